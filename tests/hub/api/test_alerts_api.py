"""Alerts through the API: filters, colours, one alert, acknowledging with a comment as the token's holder."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.alerts.alarm import Alarm, AlarmState
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.risk_level import risk_colour
from hub.alerts.rules.severity import Severity
from hub.api.alerts import SEVERITY_COLOURS, alert_out, in_area
from hub.api.auth import ApiSettings, Role
from hub.feeds.units import load_units
from hub.store.state import NodeInfo
from tests.hub.api.support import LocalHub, api_section
from wire import EventMessage

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)


def by_rule(reply) -> dict[str, dict]:
    return {a["rule"]: a for a in reply.body["alerts"]}


def test_filters_by_active_rule_area_severity_and_limit(local_hub):
    local_hub.stage(9.7, T0)  # BĐ1 at Long Biên: a flood alarm (warning) and the area's risk level 1 (info)
    viewer = local_hub.client(Role.VIEWER)
    assert set(by_rule(viewer.get("/api/alerts"))) == {"flood_level", "disaster_risk"}
    assert set(by_rule(viewer.get("/api/alerts?rule=flood_level"))) == {"flood_level"}
    assert set(by_rule(viewer.get("/api/alerts?severity=warning"))) == {"flood_level"}
    assert set(by_rule(viewer.get("/api/alerts?severity=info,warning&active=true&area=01"))) == {
        "flood_level",
        "disaster_risk",
    }
    assert viewer.get("/api/alerts?area=42").body == {"count": 0, "alerts": []}
    assert viewer.get("/api/alerts?active=false").body["count"] == 0
    assert viewer.get("/api/alerts?limit=1").body["count"] == 1


def test_bad_filters_answer_422_naming_the_parameter(local_hub):
    viewer = local_hub.client(Role.VIEWER)
    for query, field in [("limit=0", "limit"), ("limit=x", "limit"), ("severity=loud", "severity.0"), ("by=me", "by")]:
        reply = viewer.get(f"/api/alerts?{query}")
        assert reply.status == 422, query
        assert [p["field"] for p in reply.body["problems"]] == [field], query


def test_risk_alarms_wear_the_official_colour_and_others_the_severity_palette(local_hub):
    local_hub.stage(9.7, T0)
    alerts = by_rule(local_hub.client(Role.VIEWER).get("/api/alerts"))
    risk = alerts["disaster_risk"]
    assert risk["display"] == {
        "fill": risk_colour(1).hex,
        "text": risk_colour(1).text_hex,
        "label": "Cấp 1 · xanh dương nhạt",
        "official": True,
    }
    assert risk["message"] == "Cấp độ rủi ro thiên tai 1 (xanh dương nhạt)"
    flood = alerts["flood_level"]
    assert (flood["display"]["fill"], flood["display"]["official"]) == (SEVERITY_COLOURS[Severity.WARNING][0], False)


def test_one_alert_by_id(local_hub):
    local_hub.stage(9.7, T0)
    viewer = local_hub.client(Role.VIEWER)
    flood = by_rule(viewer.get("/api/alerts"))["flood_level"]
    assert viewer.get(f"/api/alerts/{flood['id']}").body == flood
    assert viewer.get("/api/alerts/no-such-id").status == 404


def test_officer_acknowledges_with_a_comment_and_is_recorded_by_token_name(local_hub):
    local_hub.stage(9.7, T0)
    flood = by_rule(local_hub.client(Role.VIEWER).get("/api/alerts"))["flood_level"]
    path = f"/api/alerts/{flood['id']}/ack"
    assert local_hub.client(Role.VIEWER).post(path, {"comment": "x"}).status == 403
    # Who acknowledges comes from the token, never from the body.
    spoof = local_hub.client(Role.OFFICER).post(path, {"by": "someone-else", "comment": "x"})
    assert spoof.status == 422 and spoof.body["problems"][0]["field"] == "by"
    assert local_hub.client(Role.VIEWER).get(f"/api/alerts/{flood['id']}").body["state"] == "ACTIVE_UNACK"

    reply = local_hub.client(Role.OFFICER).post(path, {"comment": "đã báo UBND phường"})
    assert reply.status == 200
    assert (reply.body["state"], reply.body["acked_by"], reply.body["ack_comment"]) == (
        "ACTIVE_ACK",
        "officer-1",
        "đã báo UBND phường",
    )
    stored = local_hub.client(Role.VIEWER).get(f"/api/alerts/{flood['id']}").body
    assert stored["state"] == "ACTIVE_ACK" and stored["acked_by"] == "officer-1"
    # The engine's in-memory alarm was updated too: the next reading keeps the acknowledgement.
    local_hub.stage(9.8, T0.replace(minute=15))
    assert local_hub.client(Role.VIEWER).get(f"/api/alerts/{flood['id']}").body["state"] == "ACTIVE_ACK"
    # Acknowledging again changes nothing; a body is optional; an unknown id is 404.
    again = local_hub.client(Role.ADMIN).post(path)
    assert again.status == 200 and again.body["acked_by"] == "officer-1"
    assert local_hub.client(Role.OFFICER).post("/api/alerts/nope/ack", {}).status == 404


def test_camera_alerts_carry_the_event_and_snapshot_topic(local_hub):
    assert local_hub.engine is not None
    event = EventMessage(
        node_id="cam-node-1",
        seq=1,
        ts=T0,
        event_id="evt-0001",
        phase="new",
        camera="tower-1",
        label="smoke",
        score=0.9,
        top_score=0.92,
        box=(0.1, 0.1, 0.3, 0.3),
        start=T0,
        snapshot="iocgw/v1/cam-node-1/snapshot/tower-1/smoke",
    )
    local_hub.engine.process([], events=[event], now=T0)
    camera = by_rule(local_hub.client(Role.VIEWER).get("/api/alerts?rule=camera_fire"))["camera_fire"]
    assert camera["details"]["event_id"] == "evt-0001"
    assert camera["details"]["snapshot"].endswith("/snapshot/tower-1/smoke")


def test_alerts_routes_say_so_when_the_engine_is_not_configured(tmp_path):
    hub = LocalHub(tmp_path, auth=ApiSettings.model_validate(api_section()), alerts=False)
    try:
        reply = hub.client(Role.ADMIN).get("/api/alerts")
        assert reply.status == 404 and "not configured" in reply.body["error"]
        assert hub.client(Role.ADMIN).get("/api/thresholds").status == 404
        assert hub.client(Role.ADMIN).get("/api/nodes").status == 200
    finally:
        hub.close()


def test_alerts_carry_the_names_of_their_area_and_subject(local_hub):
    """Names from the GSO unit table and the rule tables, so a reader never has to know "01" or a station id."""
    assert local_hub.engine is not None
    local_hub.stage(9.7, T0)
    reservoir = Observation("reservoir-001", "level", "reservoir_level", T0, 34.5)
    local_hub.engine.process([reservoir], now=T0)
    alerts = by_rule(local_hub.client(Role.VIEWER).get("/api/alerts?active=true"))
    flood, risk, dam = alerts["flood_level"], alerts["disaster_risk"], alerts["dam_safety"]
    assert (flood["area"], flood["area_name"]) == ("01", "Thành phố Hà Nội")
    assert (flood["subject"], flood["subject_name"]) == ("hong-long-bien", "Hà Nội (Long Biên)")
    assert (risk["subject"], risk["subject_name"]) == ("01", "Thành phố Hà Nội")
    assert (dam["subject"], dam["area_name"], dam["subject_name"]) == (
        "reservoir-001/level",
        "Tỉnh Hà Tĩnh",
        "Hồ chứa minh hoạ",
    )
    assert local_hub.client(Role.VIEWER).get(f"/api/alerts/{flood['id']}").body["area_name"] == "Thành phố Hà Nội"


def test_a_commune_is_named_with_its_province_and_unknown_codes_have_no_name():
    commune = Alarm(
        id="a0",
        rule="heavy_rain",
        subject="gauge-x",
        area="00004",
        severity=Severity.MAJOR,
        state=AlarmState.ACTIVE_UNACK,
        started_at=T0,
        updated_at=T0,
    )
    assert alert_out(commune, load_units(), {}).area_name == "Phường Ba Đình, Thành phố Hà Nội"
    alarm = Alarm(
        id="a1",
        rule="heavy_rain",
        subject="gauge-x",
        area="99999",
        severity=Severity.MAJOR,
        state=AlarmState.ACTIVE_UNACK,
        started_at=T0,
        updated_at=T0,
    )
    out = alert_out(alarm, load_units(), {})
    assert (out.area_name, out.subject_name) == (None, None)


def test_bulk_acknowledge_takes_one_hazard_in_one_area(local_hub):
    assert local_hub.engine is not None
    local_hub.stage(9.7, T0)  # Hà Nội (01): flood and risk level
    local_hub.engine.process([Observation("reservoir-001", "level", "reservoir_level", T0, 34.5)], now=T0)  # 42
    viewer = local_hub.client(Role.VIEWER)
    floods = {"rules": ["flood_level", "flood_forecast"], "area": "01", "comment": "đã báo các xã ven sông"}
    assert viewer.post("/api/alerts/ack", floods).status == 403
    officer = local_hub.client(Role.OFFICER)
    assert officer.post("/api/alerts/ack", {**floods, "area": "42"}).body == {"count": 0, "alerts": []}

    reply = officer.post("/api/alerts/ack", floods)
    assert reply.status == 200 and reply.body["count"] == 1
    (acked,) = reply.body["alerts"]
    assert (acked["rule"], acked["state"], acked["acked_by"], acked["ack_comment"]) == (
        "flood_level",
        "ACTIVE_ACK",
        "officer-1",
        "đã báo các xã ven sông",
    )
    states = {a["rule"]: a["state"] for a in viewer.get("/api/alerts?active=true").body["alerts"]}
    assert states == {"flood_level": "ACTIVE_ACK", "disaster_risk": "ACTIVE_UNACK", "dam_safety": "ACTIVE_UNACK"}
    # Nothing left to take: the same request again acknowledges nothing (the first acknowledgement stands).
    assert officer.post("/api/alerts/ack", floods).body["count"] == 0


def test_bulk_acknowledge_refuses_what_is_not_one_hazard_in_one_area(local_hub):
    officer = local_hub.client(Role.OFFICER)
    for body, field in [
        ({"rules": ["flood_level"], "area": "4"}, "area"),
        ({"rules": ["flood_level"], "area": "001"}, "area"),
        ({"rules": [], "area": "01"}, "rules"),
        ({"rules": ["flood_level"]}, "area"),
    ]:
        reply = officer.post("/api/alerts/ack", body)
        assert reply.status == 422, body
        assert [p["field"] for p in reply.body["problems"]] == [field], body


def test_an_area_takes_its_communes_by_the_unit_table_not_by_prefix():
    units = load_units()
    assert in_area(units, "00004", "01")  # Phường Ba Đình is in Hà Nội though its code does not begin with 01
    assert not in_area(units, "00004", "42")
    assert in_area(units, "01", "01") and in_area(units, "00004", "00004")
    assert not in_area(units, "01", "00004") and not in_area(units, None, "01")


def test_node_subjects_are_named_after_the_node_in_the_registry(local_hub):
    assert local_hub.engine is not None
    local_hub.state.register([NodeInfo("cam-node-1", "Tháp canh Bạch Mã", "46")])
    event = EventMessage(
        node_id="cam-node-1",
        seq=1,
        ts=T0,
        event_id="evt-0002",
        phase="new",
        camera="tower-1",
        label="smoke",
        score=0.9,
        top_score=0.92,
        box=(0.1, 0.1, 0.3, 0.3),
        start=T0,
        snapshot="iocgw/v1/cam-node-1/snapshot/tower-1/smoke",
    )
    local_hub.engine.process([], events=[event], now=T0)
    camera = by_rule(local_hub.client(Role.VIEWER).get("/api/alerts?rule=camera_fire"))["camera_fire"]
    assert (camera["subject"], camera["subject_name"]) == (
        "cam-node-1/tower-1/smoke",
        "Tháp canh Bạch Mã · tower-1/smoke",
    )
    # A node the registry does not know has no name: the page shows the id.
    stray = Alarm(
        id="a2",
        rule="data_freshness",
        subject="stray-node/stage",
        severity=Severity.WARNING,
        state=AlarmState.ACTIVE_UNACK,
        started_at=T0,
        updated_at=T0,
    )
    assert alert_out(stray, load_units(), {}, {"cam-node-1": "Tháp canh Bạch Mã"}).subject_name is None


def test_a_province_filter_takes_its_communes_whose_codes_do_not_share_its_prefix():
    from hub.alerts.alarm import Alarm, AlarmState
    from hub.api.alerts import area_filter

    def alarm(area):
        return Alarm(id="x", rule="flood_level", subject="s", area=area, severity=Severity.WARNING,
                     state=AlarmState.ACTIVE_UNACK, started_at=T0, updated_at=T0)  # fmt: skip

    sql, keep = area_filter("01")
    assert sql is None  # not a prefix in SQL: Phường Ba Đình is 00004, in Hà Nội (01)
    assert keep(alarm("01")) and keep(alarm("00004")) and not keep(alarm("46")) and not keep(alarm(None))
    sql, keep = area_filter("00004")
    assert sql == "00004" and keep(alarm("00004"))
