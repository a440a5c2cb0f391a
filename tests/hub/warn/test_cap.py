"""CAP 1.2 messages for public warnings: every message built here is validated against the OASIS schema, each rule
family maps to the category, urgency, severity and certainty docs/warnings-cap.md promises, one alarm's life reads
Alert -> Update -> Cancel with references, and inputs that would make a misleading message are refused."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import xmlschema

from hub.alerts.alarm import Alarm, AlarmState, Condition, Transition, apply_condition
from hub.alerts.rules.severity import Severity
from hub.feeds.units import load_units
from hub.warn.cap import CapArea, CapError, CapRef, cap_alert, cap_area, cap_identifier, public_rule

SCHEMA_PATH = Path(__file__).parents[3] / "hub" / "warn" / "data" / "CAP-v1.2.xsd"
NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
T0 = datetime(2026, 10, 28, 3, 0, 12, 345678, tzinfo=UTC)  # 10:00:12 in Vietnam
SENDER = "ioc@hue.gov.vn"
UNITS = load_units()
HUE = cap_area(UNITS, "46")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(SCHEMA_PATH)


def build(schema: xmlschema.XMLSchema, alarm: Alarm, transition: Transition, **kw: Any) -> ET.Element:
    """A message, checked against the schema before any test looks at it."""
    kw.setdefault("sender", SENDER)
    kw.setdefault("area", HUE if alarm.area == "46" else cap_area(UNITS, alarm.area or ""))
    kw.setdefault("now", alarm.cleared_at or alarm.updated_at)
    data = cap_alert(alarm, transition, **kw)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    schema.validate(data.decode("utf-8"))
    return ET.fromstring(data)


def alarm(rule: str, **kw: Any) -> Alarm:
    fields: dict[str, Any] = {
        "id": f"{rule.replace('_', '')}0001",
        "rule": rule,
        "subject": "kim-long",
        "area": "46",
        "severity": Severity.MAJOR,
        "state": AlarmState.ACTIVE_UNACK,
        "started_at": T0,
        "updated_at": T0,
    }
    fields.update(kw)
    fields.setdefault("peak_severity", fields["severity"])
    fields.setdefault("peak_level", fields.get("level"))
    return Alarm(**fields)


def text(root: ET.Element, path: str) -> str:
    found = root.findtext(path, namespaces=NS)
    assert found is not None, path
    return found


def infos(root: ET.Element) -> dict[str, ET.Element]:
    return {text(i, "cap:language"): i for i in root.findall("cap:info", NS)}


def params(info: ET.Element) -> dict[str, str]:
    return {text(p, "cap:valueName"): text(p, "cap:value") for p in info.findall("cap:parameter", NS)}


def crossing(hours: float, level: int = 2, confidence: float = 0.9) -> dict[str, Any]:
    return {
        "level": level,
        "name": f"BĐ{level}",
        "threshold_m": 3.5,
        "expected": (T0 + timedelta(hours=hours)).isoformat(),
        "lead_h": hours,
        "confidence": confidence,
    }


FLOOD = alarm(
    "flood_level",
    level=2,
    value=3.62,
    message="Sông Hương tại Kim Long: 3.62 m, BĐ2 (3.50 m)",
    details={"station": "Kim Long", "river": "Hương", "bd_m": [2.0, 3.5, 4.5], "lat": 16.4653, "lon": 107.5589},
)

# One alarm per rule family, with what its evaluator puts in it (hub/alerts/evaluate/), and what CAP must say.
FAMILY_CASES: list[tuple[Alarm, dict[str, Any]]] = [
    (
        FLOOD,
        {
            "category": ["Met"],
            "urgency": "Immediate",
            "severity": "Severe",
            "certainty": "Observed",
            "response": ["Prepare"],
            "params": {"BD_LEVEL": "2", "WATER_LEVEL_M": "3.62", "STATION": "Kim Long"},
        },
    ),
    (
        alarm(
            "flood_level",
            severity=Severity.CRITICAL,
            level=3,
            value=4.9,
            message="Sông Hương tại Kim Long: 4.90 m, BĐ3",
            details={"station": "Kim Long", "river": "Hương", "risk_level": 3},
        ),
        {
            "category": ["Met"],
            "urgency": "Immediate",
            "severity": "Extreme",
            "certainty": "Observed",
            "response": ["Evacuate"],
            "params": {"BD_LEVEL": "3", "VN_DISASTER_RISK_LEVEL": "3"},
        },
    ),
    (
        alarm(
            "flood_forecast",
            severity=Severity.MINOR,
            level=2,
            value=3.8,
            message="Dự báo sông Hương tại Kim Long vượt BĐ2 lúc 19:00 28/10 (khoảng 9 giờ nữa), độ tin cậy 90 %",
            details={"crossings": [crossing(9)], "possible": [], "peak_m": 3.8},
        ),
        {
            "category": ["Met"],
            "urgency": "Future",
            "severity": "Moderate",
            "certainty": "Likely",
            "response": ["Prepare"],
            "params": {"BD_LEVEL": "2", "FORECAST_PEAK_M": "3.80", "FORECAST_CONFIDENCE": "0.90"},
        },
    ),
    (
        alarm(
            "heavy_rain",
            subject="rain-aluoi",
            severity=Severity.MINOR,
            level=2,
            value=230.0,
            message="Mưa lớn tại rain-aluoi: 120 mm/12 h, 230 mm/24 h, cấp 2",
            details={"acc_12h_mm": 120.0, "acc_24h_mm": 230.0, "days_heavy": 1},
        ),
        {
            "category": ["Met"],
            "urgency": "Immediate",
            "severity": "Moderate",
            "certainty": "Observed",
            "response": ["Prepare"],
            "params": {"VN_DISASTER_RISK_LEVEL": "2", "RAIN_24H_MM": "230.0"},
        },
    ),
    (
        alarm(
            "disaster_risk",
            subject="46",
            severity=Severity.MINOR,
            level=3,
            value=3.0,
            message="Cấp độ rủi ro thiên tai 3 (da cam)",
            details={"hazards": {"flood:kim-long": 2, "rain:a": 2}},
        ),
        {
            "category": ["Met", "Geo"],
            "urgency": "Immediate",
            "severity": "Moderate",
            "certainty": "Observed",
            "response": ["Prepare"],
            "params": {"VN_DISASTER_RISK_LEVEL": "3"},
        },
    ),
    (
        alarm(
            "dam_safety",
            subject="ta-trach/level",
            severity=Severity.CRITICAL,
            level=4,
            value=53.1,
            message="Hồ Tả Trạch: mực nước 53.10 m (design_flood)",
            details={"band": "design_flood"},
        ),
        {
            "category": ["Safety", "Infra"],
            "urgency": "Immediate",
            "severity": "Extreme",
            "certainty": "Observed",
            "response": ["Evacuate"],
            "params": {"RESERVOIR": "ta-trach", "WATER_LEVEL_M": "53.10"},
        },
    ),
    (
        alarm(
            "reservoir_forecast",
            subject="ta-trach",
            severity=Severity.WARNING,
            level=2,
            value=45.5,
            message="Dự báo hồ Tả Trạch vượt MNDBT (45.00 m) lúc 11:00 28/10 (khoảng 1 giờ nữa), độ tin cậy 60 %",
            details={"crossings": [crossing(1, confidence=0.6)]},
        ),
        {
            "category": ["Safety", "Infra"],
            "urgency": "Expected",
            "severity": "Minor",
            "certainty": "Likely",
            "response": ["Monitor"],
            "params": {"FORECAST_PEAK_M": "45.50"},
        },
    ),
    (
        alarm(
            "forest_fire_danger",
            subject="bach-ma",
            severity=Severity.MAJOR,
            level=4,
            value=7200.0,
            message="Cấp dự báo cháy rừng IV tại bach-ma (P = 7200)",
            details={"p": 7200.0},
        ),
        {
            "category": ["Fire"],
            "urgency": "Expected",
            "severity": "Severe",
            "certainty": "Likely",
            "response": ["Prepare"],
            "params": {"FIRE_DANGER_LEVEL": "IV", "NESTEROV_P": "7200"},
        },
    ),
    (
        alarm(
            "camera_fire",
            subject="cam-node/cam1/fire",
            severity=Severity.MAJOR,
            level=4,
            value=0.93,
            message="Camera cam1 (cam-node) thấy fire, điểm 0.93",
            details={"event_id": "e1"},
        ),
        {
            "category": ["Fire"],
            "urgency": "Immediate",
            "severity": "Severe",
            "certainty": "Observed",
            "response": ["Avoid"],
            "params": {},
        },
    ),
]


@pytest.mark.parametrize(("case", "expected"), FAMILY_CASES, ids=[f"{a.rule}-{a.level}" for a, _ in FAMILY_CASES])
def test_each_rule_family_maps_to_cap_and_is_schema_valid(
    schema: xmlschema.XMLSchema, case: Alarm, expected: dict[str, Any]
) -> None:
    root = build(schema, case, Transition.CREATED)
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Public"
    assert root.find("cap:references", NS) is None
    by_lang = infos(root)
    assert list(by_lang) == ["vi-VN", "en-US"]
    for info in by_lang.values():
        assert [c.text for c in info.findall("cap:category", NS)] == expected["category"]
        assert text(info, "cap:urgency") == expected["urgency"]
        assert text(info, "cap:severity") == expected["severity"]
        assert text(info, "cap:certainty") == expected["certainty"]
        assert [r.text for r in info.findall("cap:responseType", NS)] == expected["response"]
        assert text(info, "cap:eventCode/cap:value") == case.rule
        got = params(info)
        assert got.items() >= expected["params"].items()
        assert got["GSO_PROVINCE"] == "46"
        assert text(info, "cap:area/cap:geocode/cap:valueName") == "GSO"
        assert text(info, "cap:area/cap:geocode/cap:value") == "46"
        assert text(info, "cap:area/cap:areaDesc") == "Thành phố Huế"
    vi = by_lang["vi-VN"]
    # The rule's Vietnamese message reaches the public as written, diacritics and all.
    assert text(vi, "cap:description").startswith(case.message)
    assert text(vi, "cap:instruction") != text(by_lang["en-US"], "cap:instruction")


def test_the_vietnamese_text_survives_byte_for_byte(schema: xmlschema.XMLSchema) -> None:
    data = cap_alert(FLOOD, Transition.CREATED, sender=SENDER, area=HUE, now=T0)
    # Precomposed (NFC) letters, UTF-8, no character references: what a phone shows is what was written.
    assert "Sông Hương tại Kim Long: 3.62 m, BĐ2 (3.50 m)".encode() in data
    assert "Cảnh báo lũ BĐ2 – Thành phố Huế".encode() in data
    assert b"&#" not in data
    vi = infos(ET.fromstring(data))["vi-VN"]
    assert text(vi, "cap:event") == "Lũ trên sông"
    assert "Sẵn sàng sơ tán khi chính quyền yêu cầu" in text(vi, "cap:instruction")


def test_header_sent_expires_and_onset_are_cap_times_in_vietnam(schema: xmlschema.XMLSchema) -> None:
    root = build(schema, FLOOD, Transition.CREATED, now=T0 + timedelta(seconds=30))
    assert text(root, "cap:identifier") == "floodlevel0001.0.created"
    assert text(root, "cap:sender") == SENDER
    # Whole seconds, +07:00, never 'Z' or a fraction: the schema's pattern for every CAP time.
    assert text(root, "cap:sent") == "2026-10-28T10:00:42+07:00"
    vi = infos(root)["vi-VN"]
    assert text(vi, "cap:onset") == "2026-10-28T10:00:12+07:00"
    assert text(vi, "cap:expires") == "2026-10-29T10:00:42+07:00"
    for path in ("cap:sent", "cap:info/cap:onset", "cap:info/cap:expires"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00", text(root, path))


def test_the_same_change_builds_the_same_bytes() -> None:
    one = cap_alert(FLOOD, Transition.CREATED, sender=SENDER, area=HUE, now=T0)
    two = cap_alert(FLOOD.model_copy(), Transition.CREATED, sender=SENDER, area=HUE, now=T0)
    assert one == two


def test_station_coordinates_give_a_circle_and_a_polygon_is_kept(schema: xmlschema.XMLSchema) -> None:
    ring = ((16.5, 107.5), (16.5, 107.7), (16.4, 107.7), (16.4, 107.5), (16.5, 107.5))
    area = CapArea(code="46", name="Thành phố Huế", province_code="46", polygon=ring)
    root = build(schema, FLOOD, Transition.CREATED, area=area, circle_km=2.5)
    info = infos(root)["en-US"]
    assert text(info, "cap:area/cap:circle") == "16.46530,107.55890 2.5"
    assert text(info, "cap:area/cap:polygon").split() == [f"{lat:.5f},{lon:.5f}" for lat, lon in ring]
    no_coords = alarm("flood_level", level=1, severity=Severity.WARNING, details={"station": "Kim Long"})
    assert infos(build(schema, no_coords, Transition.CREATED))["vi-VN"].find("cap:area/cap:circle", NS) is None


def test_a_commune_is_named_with_its_province_and_geocoded_by_its_own_code(schema: xmlschema.XMLSchema) -> None:
    commune = next(u for u in UNITS.current.values() if len(u.code) == 5)
    province = UNITS.current[commune.province_code]
    a = alarm("heavy_rain", area=commune.code, severity=Severity.WARNING, level=1, value=120.0, message="Mưa lớn")
    info = infos(build(schema, a, Transition.CREATED))["vi-VN"]
    assert text(info, "cap:area/cap:areaDesc") == f"{commune.name}, {province.name}"
    # One geocode: CAP reads several as a union, and the province's would spread the warning over all of it.
    assert [text(g, "cap:value") for g in info.findall("cap:area/cap:geocode", NS)] == [commune.code]
    assert params(info)["GSO_PROVINCE"] == province.code
    assert [r.text for r in info.findall("cap:responseType", NS)] == ["Monitor"]


def test_web_link_points_to_the_alarm_on_the_public_status_page(schema: xmlschema.XMLSchema) -> None:
    root = build(schema, FLOOD, Transition.CREATED, web="https://ioc.hue.gov.vn/canh-bao/{alarm_id}")
    assert {text(i, "cap:web") for i in root.findall("cap:info", NS)} == {
        "https://ioc.hue.gov.vn/canh-bao/floodlevel0001"
    }
    with pytest.raises(CapError, match="absolute http"):
        cap_alert(FLOOD, Transition.CREATED, sender=SENDER, area=HUE, now=T0, web="canh-bao/x")


def test_sender_names_go_to_their_language(schema: xmlschema.XMLSchema) -> None:
    root = build(
        schema, FLOOD, Transition.CREATED, sender_name="Trung tâm IOC thành phố Huế", sender_name_en="Hue City IOC"
    )
    by_lang = infos(root)
    assert text(by_lang["vi-VN"], "cap:senderName") == "Trung tâm IOC thành phố Huế"
    assert text(by_lang["en-US"], "cap:senderName") == "Hue City IOC"


@pytest.mark.parametrize("status", ["Actual", "Exercise", "Test"])
def test_status_is_actual_unless_a_drill_or_a_test(schema: xmlschema.XMLSchema, status: str) -> None:
    assert text(build(schema, FLOOD, Transition.CREATED, status=status), "cap:status") == status


def test_one_alarms_life_alert_update_cancel_with_references(schema: xmlschema.XMLSchema) -> None:
    """created (BĐ1) -> escalated (BĐ3) -> cleared, through the engine's own life cycle."""
    details = {"station": "Kim Long", "river": "Hương"}
    bd1 = Condition(
        active=True, severity=Severity.WARNING, level=1, value=2.1, message="Sông Hương: 2.10 m, BĐ1", details=details
    )
    bd3 = Condition(
        active=True, severity=Severity.CRITICAL, level=3, value=4.6, message="Sông Hương: 4.60 m, BĐ3", details=details
    )
    calm = Condition(active=False, severity=Severity.INFO, level=0, value=1.7, message="Sông Hương: 1.70 m, dưới BĐ1")
    t1, t2, t3 = T0, T0 + timedelta(hours=5), T0 + timedelta(days=1)
    created, tr1 = apply_condition(None, "flood_level", "kim-long", bd1, t1, area="46")
    escalated, tr2 = apply_condition(created, "flood_level", "kim-long", bd3, t2, area="46")
    cleared, tr3 = apply_condition(escalated, "flood_level", "kim-long", calm, t3, area="46")
    assert created and escalated and cleared
    assert (tr1, tr2, tr3) == (Transition.CREATED, Transition.ESCALATED, Transition.CLEARED)

    sent: list[CapRef] = []
    msgs = []
    for a, tr, now in ((created, tr1, t1), (escalated, tr2, t2), (cleared, tr3, t3)):
        assert tr is not None
        root = build(schema, a, tr, now=now, previous=list(sent))
        msgs.append(root)
        sent.append(CapRef(SENDER, cap_identifier(a, tr), now))

    alert, update, cancel = msgs
    assert [text(m, "cap:msgType") for m in msgs] == ["Alert", "Update", "Cancel"]
    ids = [text(m, "cap:identifier") for m in msgs]
    assert len(set(ids)) == 3
    assert ids[0] == f"{created.id}.0.created" and ids[2] == f"{created.id}.2.cleared"
    assert alert.find("cap:references", NS) is None
    assert text(update, "cap:references") == f"{SENDER},{ids[0]},2026-10-28T10:00:12+07:00"
    assert text(cancel, "cap:references").split(" ") == [
        f"{SENDER},{ids[0]},2026-10-28T10:00:12+07:00",
        f"{SENDER},{ids[1]},2026-10-28T15:00:12+07:00",
    ]
    # The escalation is as bad as the river now is; the end says what ended (the peak) and that it is over.
    up_vi = infos(update)["vi-VN"]
    assert text(up_vi, "cap:severity") == "Extreme"
    assert text(up_vi, "cap:headline") == "Nâng mức: Cảnh báo lũ BĐ3 – Thành phố Huế"
    assert params(up_vi)["BD_LEVEL"] == "3"
    for info in infos(cancel).values():
        assert [r.text for r in info.findall("cap:responseType", NS)] == ["AllClear"]
        assert text(info, "cap:urgency") == "Past"
        assert text(info, "cap:certainty") == "Observed"
        assert "BD_LEVEL" not in params(info) and params(info)["BD_LEVEL_PEAK"] == "3"
    cancel_vi = infos(cancel)["vi-VN"]
    assert text(cancel_vi, "cap:headline") == "Kết thúc: Cảnh báo lũ BĐ3 – Thành phố Huế"
    assert "dưới mức báo động" in text(cancel_vi, "cap:instruction")
    assert text(cancel_vi, "cap:expires") == "2026-10-29T13:00:12+07:00"  # three hours of all-clear


def test_deescalation_and_update_are_updates(schema: xmlschema.XMLSchema) -> None:
    ref = [CapRef(SENDER, "floodlevel0001.0.created", T0)]
    for tr, head in ((Transition.DEESCALATED, "Hạ mức"), (Transition.UPDATED, "Cập nhật")):
        root = build(schema, FLOOD.model_copy(update={"revision": 1}), tr, previous=ref)
        assert text(root, "cap:msgType") == "Update"
        assert text(root, "cap:identifier") == f"floodlevel0001.1.{tr.value}"
        assert text(infos(root)["vi-VN"], "cap:headline").startswith(f"{head}: ")


def test_forecasts_take_onset_urgency_and_certainty_from_the_crossing(schema: xmlschema.XMLSchema) -> None:
    soon = alarm("flood_forecast", severity=Severity.MINOR, level=2, details={"crossings": [crossing(3, 2, 0.4)]})
    info = infos(build(schema, soon, Transition.CREATED))["en-US"]
    assert text(info, "cap:onset") == "2026-10-28T13:00:12+07:00"
    assert text(info, "cap:urgency") == "Expected"  # within six hours: act now
    assert text(info, "cap:certainty") == "Possible"  # confidence 0.4 is not 'likely'
    assert [r.text for r in info.findall("cap:responseType", NS)] == ["Prepare"]
    # A forecast never says Evacuate on its own, however high; the measured alarm does.
    high = alarm("flood_forecast", severity=Severity.CRITICAL, level=3, details={"crossings": [crossing(2, 3)]})
    assert [
        r.text for r in infos(build(schema, high, Transition.CREATED))["vi-VN"].findall("cap:responseType", NS)
    ] == ["Prepare"]


def test_disaster_risk_from_forecasts_alone_is_likely_not_observed(schema: xmlschema.XMLSchema) -> None:
    a = alarm(
        "disaster_risk",
        subject="46",
        severity=Severity.WARNING,
        level=2,
        details={"hazards": {"flood_forecast:kim-long": 2}},
    )
    assert text(infos(build(schema, a, Transition.CREATED))["vi-VN"], "cap:certainty") == "Likely"


def test_technicians_rules_are_restricted_never_public(schema: xmlschema.XMLSchema) -> None:
    a = alarm(
        "data_quality",
        subject="river-01/level",
        severity=Severity.MINOR,
        value=62.5,
        message="Dữ liệu trạm river-01 (level) thiếu: 90/144 bản tin (62.5 %) hôm qua",
    )
    root = build(schema, a, Transition.CREATED)
    assert not public_rule("data_quality") and public_rule("flood_level")
    assert text(root, "cap:scope") == "Restricted"
    assert "không phát cho người dân" in text(root, "cap:restriction")
    info = infos(root)["vi-VN"]
    assert [c.text for c in info.findall("cap:category", NS)] == ["Infra"]
    assert [r.text for r in info.findall("cap:responseType", NS)] == ["Assess"]


def test_an_alarm_with_no_area_is_refused_with_the_reason() -> None:
    with pytest.raises(CapError, match=r"has no area: a public warning must name the administrative unit"):
        cap_alert(FLOOD.model_copy(update={"area": None}), Transition.CREATED, sender=SENDER, area=HUE, now=T0)


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        ({"area": "42"}, {}, r"is for area 42, but the area given is 46"),
        ({}, {"sender": "ioc hue"}, r"sender 'ioc hue': CAP forbids spaces"),
        ({}, {"sender": "ioc,hue"}, r"CAP forbids spaces, commas"),
        ({"rule": "mystery"}, {}, r"rule 'mystery' has no CAP mapping"),
        ({"state": AlarmState.CLEARED_UNACK, "cleared_at": T0}, {}, r"already cleared.*'created'"),
        ({"id": "a b"}, {}, r"cannot be part of a CAP identifier"),
        ({}, {"now": datetime(2026, 10, 28, 10, 0)}, r"has no time zone"),
        ({}, {"area": CapArea("46", "  ", "46")}, r"has no name"),
        (
            {},
            {"area": CapArea("46", "Huế", "46", polygon=((16.0, 107.0), (16.1, 107.1), (16.2, 107.0)))},
            "closed ring",
        ),
    ],
)
def test_bad_inputs_give_a_clear_error(change: dict[str, Any], kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"sender": SENDER, "area": HUE, "now": T0}
    args.update(kwargs)
    with pytest.raises(CapError, match=message):
        cap_alert(FLOOD.model_copy(update=change), Transition.CREATED, **args)


def test_transitions_that_are_no_news_or_lack_their_history_are_refused() -> None:
    with pytest.raises(CapError, match="'acknowledged' is not news to the public"):
        cap_alert(FLOOD, Transition.ACKNOWLEDGED, sender=SENDER, area=HUE, now=T0)
    with pytest.raises(CapError, match="an Update must reference the alarm's earlier messages"):
        cap_alert(FLOOD, Transition.ESCALATED, sender=SENDER, area=HUE, now=T0)
    with pytest.raises(CapError, match="still active"):
        cap_alert(
            FLOOD, Transition.CLEARED, sender=SENDER, area=HUE, now=T0, previous=[CapRef(SENDER, "x.0.created", T0)]
        )
    with pytest.raises(CapError, match="may not hold spaces"):
        cap_alert(FLOOD, Transition.UPDATED, sender=SENDER, area=HUE, now=T0, previous=[CapRef(SENDER, "x y", T0)])


def test_cap_area_takes_names_from_the_unit_table_and_refuses_codes_it_cannot_use() -> None:
    assert CapArea(code="46", name="Thành phố Huế", province_code="46", province_name="Thành phố Huế") == HUE
    assert HUE.description == "Thành phố Huế"
    with pytest.raises(CapError, match="district code"):
        cap_area(UNITS, "123")
    with pytest.raises(CapError, match=r"10 is a retired code, now 15"):  # Lào Cai, merged in 2025
        cap_area(UNITS, "10")
    with pytest.raises(CapError, match="unknown commune code 99999"):
        cap_area(UNITS, "99999")
