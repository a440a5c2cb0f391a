"""Flood stations and a reservoir for tests that need a rule table but not a particular river's figures."""

from __future__ import annotations

from typing import Any

from hub.alerts.rules.dam_safety import Reservoir
from hub.alerts.rules.flood_levels import FloodStation


def flood_station(station_id: str, node_id: str, sensor_id: str = "stage", **kw: Any) -> FloodStation:
    """A station on the Hương with Kim Long's BĐ levels (1.0 / 2.0 / 3.5 m, zone 1) unless ``kw`` says otherwise."""
    fields: dict[str, Any] = {
        "river": "Hương",
        "name": station_id,
        "province": "Huế",
        "bd1_m": 1.0,
        "bd2_m": 2.0,
        "bd3_m": 3.5,
        "source": "QĐ 05/2020/QĐ-TTg",
        "zone": 1,
    }
    return FloodStation(station_id=station_id, node_id=node_id, sensor_id=sensor_id, **{**fields, **kw})


# The simulator's reservoir (hub/alerts/sample_rules/reservoirs.yaml's levels), illustrative.
RESERVOIR = Reservoir(
    reservoir_id="reservoir-001",
    name="Hồ chứa minh hoạ",
    province="Huế",
    node_id="reservoir-001",
    source="illustrative",
    dead_level_m=18.0,
    pre_flood_level_m=29.0,
    normal_level_m=32.5,
    design_flood_level_m=34.2,
    check_flood_level_m=35.1,
)
