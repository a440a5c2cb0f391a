"""The one data source every dashboard and alert rule reads: the hub's InfluxDB, in InfluxQL mode, fixed uid."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.grafana.common import DATASOURCE_NAME, DATASOURCE_UID
from hub.grafana.influxql import DATASOURCE_TYPE


class InfluxTarget(BaseModel):
    """Where Grafana reaches the hub's InfluxDB (as Grafana's server sees it, not the browser)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field("http://127.0.0.1:8086", pattern=r"^https?://[^\s/]+(/\S*)?$")
    database: str = Field("iocgw", min_length=1, pattern=r"^[^\s\"]+$")


def datasource(target: InfluxTarget) -> dict[str, Any]:
    """The data source as both the provisioning file and ``POST /api/datasources`` take it."""
    return {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "url": target.url,
        "isDefault": False,
        "jsonData": {"dbName": target.database, "httpMode": "GET", "version": "InfluxQL", "timeInterval": "10s"},
    }
