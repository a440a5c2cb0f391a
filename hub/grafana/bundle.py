"""Everything iocgw provisions in Grafana, built once: the export and the push both write exactly this."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from pydantic import BaseModel, ConfigDict, Field

from hub.grafana import alerting, influxql
from hub.grafana.dashboards import MODULES
from hub.grafana.datasource import InfluxTarget, datasource

FOLDER_UID = "iocgw"


class BundleOptions(BaseModel):
    """What differs between installations; everything else is fixed by the code."""

    model_config = ConfigDict(extra="forbid")

    influx: InfluxTarget = Field(default_factory=InfluxTarget)
    folder: str = Field("iocgw", min_length=1, description="Grafana folder title for dashboards and alert rules")
    contact: alerting.ContactSettings = Field(default_factory=alerting.ContactSettings)


@dataclass(frozen=True)
class Bundle:
    folder_title: str
    folder_uid: str
    datasource: dict[str, Any]
    dashboards: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    contact_point: dict[str, Any]


def encode(obj: object) -> Any:
    return json.loads(json.dumps(obj, cls=JSONEncoder))


def register_variants() -> None:
    """The SDK's own panel and query variants plus our InfluxQL one (idempotent)."""
    register_default_plugins()
    influxql.register()


def dashboard_json(module: ModuleType) -> dict[str, Any]:
    """The dashboard's JSON in the SDK's canonical form.

    Decoding fills in defaults the builders leave out (``fieldConfig.defaults.custom`` of a panel type), so the
    builder's output goes through one decode; from then on decoding and encoding give back the same JSON.
    """
    register_variants()
    built = module.build().build()
    # Panel ids, which links and repeats refer to, in layout order (the SDK leaves them unset).
    for i, panel in enumerate(built.panels or [], start=1):
        panel.id_val = i
    return encode(Dashboard.from_json(encode(built)))


def build_bundle(options: BundleOptions) -> Bundle:
    return Bundle(
        folder_title=options.folder,
        folder_uid=FOLDER_UID,
        datasource=datasource(options.influx),
        dashboards=[dashboard_json(m) for m in MODULES],
        rules=alerting.rules(FOLDER_UID),
        contact_point=alerting.contact_point(options.contact),
    )
