"""Dashboards as code: each encodes, decodes back through grafana-foundation-sdk to the same JSON, and is wired
to the shared data source, variables and colours."""

from __future__ import annotations

import json

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models.dashboard import Dashboard, Panel

from hub.alerts.rules.risk_level import RISK_COLOURS
from hub.grafana.bundle import dashboard_json, encode, register_variants
from hub.grafana.common import DATASOURCE_UID
from hub.grafana.dashboards import MODULES
from hub.grafana.influxql import InfluxQLQuery
from hub.grafana.push import contains

MODULE_IDS = [m.__name__.rsplit(".", 1)[1] for m in MODULES]


@pytest.fixture(params=MODULES, ids=MODULE_IDS)
def module(request: pytest.FixtureRequest):
    return request.param


def _panels(d: Dashboard) -> list[Panel]:
    return [p for p in d.panels or [] if isinstance(p, Panel)]


def test_round_trip_through_the_sdk_gives_back_the_same_json(module) -> None:
    data = dashboard_json(module)
    register_variants()
    decoded = Dashboard.from_json(json.loads(json.dumps(data)))
    assert json.loads(json.dumps(decoded, cls=JSONEncoder)) == data
    targets = [t for p in _panels(decoded) for t in p.targets or []]
    assert targets and all(isinstance(t, InfluxQLQuery) for t in targets)
    assert not any(isinstance(t, UnknownDataquery) for t in targets)


def test_canonical_json_keeps_everything_the_builders_set(module) -> None:
    """The one decode pass only adds the SDK's defaults; nothing the dashboard module set is lost or changed."""
    built = encode(module.build().build())
    canonical = dashboard_json(module)
    for panel in canonical["panels"] + built["panels"]:
        panel.pop("id", None)  # the one thing dashboard_json sets itself
    assert contains(canonical, built)


def test_every_query_reads_the_shared_influxql_data_source(module) -> None:
    data = dashboard_json(module)
    for panel in data["panels"]:
        for t in panel.get("targets") or []:
            assert t["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, panel["title"]
            assert t["rawQuery"] is True and t["query"].startswith("SELECT"), panel["title"]
    for v in data["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"]["uid"] == DATASOURCE_UID
            assert v["query"].startswith("SHOW TAG VALUES")


def test_dashboards_have_unique_uids_and_titles_and_ids_per_panel() -> None:
    data = [dashboard_json(m) for m in MODULES]
    assert len({d["uid"] for d in data}) == len({d["title"] for d in data}) == len(MODULES)
    for d in data:
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), d["uid"]
        refs = [[t["refId"] for t in p.get("targets") or []] for p in d["panels"]]
        assert all(len(r) == len(set(r)) for r in refs), d["uid"]


def test_risk_level_colours_are_the_engines() -> None:
    """QĐ 18/2021 colours: the dashboards use the hex values the alert engine writes with each risk_level point."""
    overview = dashboard_json(next(m for m in MODULES if m.UID == "iocgw-overview"))
    (risk,) = [p for p in overview["panels"] if "rủi ro" in p["title"]]
    steps = risk["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, 1, 2, 3, 4, 5]
    assert [s["color"] for s in steps[1:]] == [c.hex for c in RISK_COLOURS]


def test_geomap_layers_each_read_their_own_query_with_lat_lon() -> None:
    overview = dashboard_json(next(m for m in MODULES if m.UID == "iocgw-overview"))
    (geo,) = [p for p in overview["panels"] if p["type"] == "geomap"]
    refs = {t["refId"]: t for t in geo["targets"]}
    for layer in geo["options"]["layers"]:
        ref = layer["filterData"]["options"]
        assert layer["location"] == {"mode": "coords", "latitude": "lat", "longitude": "lon"}
        assert refs[ref]["resultFormat"] == "table" and '"lat", "lon"' in refs[ref]["query"]
        assert layer["config"]["style"]["color"]["field"] in refs[ref]["query"]


def test_camera_detections_link_to_the_hubs_snapshot_route() -> None:
    fire = dashboard_json(next(m for m in MODULES if m.UID == "iocgw-forest-fire"))
    (table,) = [p for p in fire["panels"] if p["type"] == "table"]
    links = [
        prop["value"] for o in table["fieldConfig"]["overrides"] for prop in o["properties"] if prop["id"] == "links"
    ]
    (url,) = [link["url"] for group in links for link in group]
    # The route hub/api/snapshots.py serves, filled from the row's node, camera and label.
    assert url == "${hub_url}/api/snapshots/${__data.fields.node_id}/${__data.fields.camera}/${__data.fields.label}"
    assert '"node_id", "camera", "label"' in table["targets"][0]["query"]
