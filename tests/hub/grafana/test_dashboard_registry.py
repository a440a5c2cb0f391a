"""The dashboard registry: one builder per uid, in the bundle's order, each reading the measurements it is for."""

from __future__ import annotations

import json
import re

from hub.grafana.bundle import BundleOptions, build_bundle, dashboard_json
from hub.grafana.dashboards import DASHBOARDS, MODULES

# The bundle's order, which export and push follow, and the measurements each dashboard's queries read.
READS = {
    "iocgw-overview": {"alarm", "camera_event", "flood_level", "node_status", "reservoir_state", "risk_level"},
    "iocgw-hydrology": {"flood_level", "rain_accumulation", "rainfall", "stage_forecast"},
    "iocgw-dam-safety": {"inflow", "outflow", "reservoir_level", "reservoir_state", "seepage", "stage_forecast"},
    "iocgw-forest-fire": {"camera_event", "fire_danger"},
    "iocgw-edge-fleet": {"completeness", "node_status"},
    "iocgw-admin-units": {"admin_indicator", "citizen_feedback", "public_service", "unit_hazard"},
}


def test_every_dashboard_is_registered_under_its_uid_in_the_bundle_order() -> None:
    assert DASHBOARDS.in_order() == list(READS)
    assert [m.UID for m in MODULES] == list(READS)
    for module in MODULES:
        assert DASHBOARDS.plugin(module.UID) is module.build
        assert not DASHBOARDS.has_config(module.UID)
    assert [d["uid"] for d in build_bundle(BundleOptions()).dashboards] == list(READS)


def test_each_dashboard_reads_its_measurements() -> None:
    for module in MODULES:
        data = dashboard_json(module)
        assert data["uid"] == module.UID and data["title"] == module.TITLE
        read = set(re.findall(r'FROM \\"([a-z_]+)\\"', json.dumps(data)))
        assert read == READS[module.UID], module.UID
