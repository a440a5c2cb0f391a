"""Public warnings as OASIS CAP 1.2 messages (Common Alerting Protocol), for aggregators and other alerting systems.

One message per alarm change: ``Alert`` when the alarm opens, ``Update`` when it rises, falls or changes,
``Cancel`` when it clears, the later ones referencing every earlier message of the same alarm. Each message has a
Vietnamese and an English ``info`` block and one ``area`` named by its GSO code. Pure functions: the caller (the
warning dispatcher) stores the bytes it gets and serves them as they are, since a CAP identifier names one message
for good (building it again later gives another ``sent``). Mapping tables and an example: docs/warnings-cap.md.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, NamedTuple

from hub.alerts.alarm import Alarm, Transition
from hub.alerts.rules.severity import Severity
from hub.feeds.units import AdminUnits, UnitError, UnitLevel

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
CONTENT_TYPE = "application/cap+xml"
VN_TZ = timezone(timedelta(hours=7), "+07:00")  # Vietnam: no daylight saving

Status = Literal["Actual", "Exercise", "Test"]
Kind = Literal["measured", "forecast", "danger", "assessed", "technical"]

# CAP forbids white space, commas and the XML-special < and & in identifiers and sender ids: references are a
# space-separated list of comma-separated triples, so either would split one.
_CAP_ID = re.compile(r"^[^\s,<&]+$")
# A forecast crossing this close is a warning to act on now: moving people and goods out of a flood takes hours.
FORECAST_EXPECTED_WITHIN = timedelta(hours=6)
# How long a message stands in an aggregator without a newer one; the hub sends one at every alarm change.
VALID_FOR: dict[Kind, timedelta] = {
    "measured": timedelta(hours=24),
    "forecast": timedelta(hours=12),  # a forecast is reissued within forecast_official_max_age_h (12 h by default)
    "danger": timedelta(hours=24),  # the fire danger level is worked out once a day
    "assessed": timedelta(hours=24),
    "technical": timedelta(hours=24),
}
CANCEL_VALID_FOR = timedelta(hours=3)  # long enough for people to see the all-clear, short enough not to linger


class CapError(ValueError):
    """A message that cannot be built from these inputs; the text says which input and why."""


@dataclass(frozen=True, slots=True)
class Family:
    """What CAP needs to know of a rule: its category, its event name and how its alarms are known."""

    categories: tuple[str, ...]
    event_vi: str
    event_en: str
    kind: Kind
    hazard: str  # which instructions apply: flood, rain, dam, fire, fire_seen, risk, technical


FAMILIES: dict[str, Family] = {
    # CAP 1.2 puts floods under Met ("Meteorological (inc. flood)"); Geo is for earthquakes, tsunamis, landslides.
    "flood_level": Family(("Met",), "Lũ trên sông", "River flood", "measured", "flood"),
    "flood_forecast": Family(("Met",), "Dự báo lũ trên sông", "River flood forecast", "forecast", "flood"),
    "heavy_rain": Family(("Met",), "Mưa lớn", "Heavy rain", "measured", "rain"),
    # The combined risk level counts floods and rain (Met) and flash floods and landslides (Geo).
    "disaster_risk": Family(("Met", "Geo"), "Rủi ro thiên tai", "Natural disaster risk", "assessed", "risk"),
    "dam_safety": Family(("Safety", "Infra"), "An toàn hồ đập", "Dam safety", "measured", "dam"),
    "reservoir_forecast": Family(
        ("Safety", "Infra"), "Dự báo mực nước hồ chứa", "Reservoir level forecast", "forecast", "dam"
    ),
    "forest_fire_danger": Family(("Fire",), "Nguy cơ cháy rừng", "Forest fire danger", "danger", "fire"),
    "camera_fire": Family(("Fire",), "Cháy rừng", "Forest fire", "measured", "fire_seen"),
    # For technicians only (docs/alerts.md): sent, if at all, as Restricted, never to the public.
    "data_quality": Family(
        ("Infra",), "Thiếu dữ liệu quan trắc", "Monitoring data incomplete", "technical", "technical"
    ),
    "data_freshness": Family(("Infra",), "Trạm đo ngừng gửi dữ liệu", "Sensor silent", "technical", "technical"),
    "node_offline": Family(("Infra",), "Trạm đo mất kết nối", "Station offline", "technical", "technical"),
}

MSG_TYPE: dict[Transition, str] = {
    Transition.CREATED: "Alert",
    Transition.ESCALATED: "Update",
    Transition.DEESCALATED: "Update",
    Transition.UPDATED: "Update",
    Transition.CLEARED: "Cancel",
}

# The hub's five severities onto CAP's four: BĐ1 (a flood still in its channel) is Minor, BĐ2 Severe, BĐ3 Extreme;
# fire danger III Moderate, IV Severe, V Extreme.
CAP_SEVERITY: dict[Severity, str] = {
    Severity.INFO: "Minor",
    Severity.WARNING: "Minor",
    Severity.MINOR: "Moderate",
    Severity.MAJOR: "Severe",
    Severity.CRITICAL: "Extreme",
}

_HEADING_VI: dict[str, str] = {
    "flood_level": "Cảnh báo lũ",
    "flood_forecast": "Dự báo lũ",
    "heavy_rain": "Cảnh báo mưa lớn",
    "disaster_risk": "Cảnh báo rủi ro thiên tai",
    "dam_safety": "Cảnh báo an toàn hồ đập",
    "reservoir_forecast": "Dự báo mực nước hồ",
    "forest_fire_danger": "Cảnh báo cháy rừng",
    "camera_fire": "Phát hiện cháy rừng",
}
_HEADING_EN: dict[str, str] = {
    "flood_level": "Flood warning",
    "flood_forecast": "Flood forecast",
    "heavy_rain": "Heavy rain warning",
    "disaster_risk": "Disaster risk warning",
    "dam_safety": "Dam safety warning",
    "reservoir_forecast": "Reservoir level forecast",
    "forest_fire_danger": "Forest fire danger",
    "camera_fire": "Forest fire detected",
}
_CHANGE_VI = {
    Transition.ESCALATED: "Nâng mức",
    Transition.DEESCALATED: "Hạ mức",
    Transition.UPDATED: "Cập nhật",
    Transition.CLEARED: "Kết thúc",
}
_CHANGE_EN = {
    Transition.ESCALATED: "Raised",
    Transition.DEESCALATED: "Lowered",
    Transition.UPDATED: "Update",
    Transition.CLEARED: "Ended",
}
_ROMAN = ("I", "II", "III", "IV", "V")

# (vi, en) instructions by hazard and CAP severity ("Cancel" for the all-clear). Written for people at home: what to
# do, in the order to do it, with the rescue (112) or fire (114) number where it helps.
_INSTRUCTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "flood": {
        "Minor": (
            "Theo dõi tin lũ trên loa, đài, điện thoại. Không đi qua sông, suối, ngầm tràn đang có nước chảy.",
            "Follow flood news on loudspeakers, radio and phone. Do not cross rivers, streams or flooded causeways.",
        ),
        "Moderate": (
            "Kê cao đồ đạc; đưa người già, trẻ nhỏ, vật nuôi lên chỗ cao. Không đi qua vùng ngập. "
            "Sẵn sàng sơ tán khi chính quyền yêu cầu.",
            "Raise belongings; move the elderly, children and animals to higher ground. Do not cross flooded areas. "
            "Be ready to leave when the authorities ask.",
        ),
        "Extreme": (
            "Nhà ở vùng trũng, ven sông: sơ tán ngay đến nơi an toàn theo hướng dẫn của chính quyền xã. "
            "Không đi qua dòng nước chảy xiết. Cần cứu nạn, gọi 112.",
            "Homes in low-lying and riverside areas: leave now for the safe place the commune names. "
            "Do not cross fast-flowing water. For rescue call 112.",
        ),
        "Cancel": (
            "Nước đã xuống dưới mức báo động. Chỉ về nhà khi chính quyền cho phép; cẩn thận điện hở, nhà hư hỏng, "
            "nước bẩn.",
            "The water is below the alarm level. Go home only when the authorities allow it; beware of live wires, "
            "damaged buildings and dirty water.",
        ),
    },
    "rain": {
        "Minor": (
            "Theo dõi tin mưa lũ. Không đi qua ngầm tràn, suối khi mưa to. Ở gần sườn đồi dốc: chú ý dấu hiệu sạt "
            "lở đất.",
            "Follow rain and flood news. Do not cross causeways or streams in heavy rain. Near steep slopes: watch "
            "for signs of landslides.",
        ),
        "Moderate": (
            "Hạn chế ra ngoài khi mưa to. Tránh xa sông suối, sườn dốc: có thể có lũ quét, sạt lở đất. "
            "Chuẩn bị đồ dùng thiết yếu, sẵn sàng sơ tán.",
            "Stay in during heavy rain. Keep away from streams and steep slopes: flash floods and landslides may "
            "happen. Pack essentials and be ready to leave.",
        ),
        "Extreme": (
            "Mưa rất lớn, nguy cơ lũ quét, sạt lở đất cao. Nhà gần sông suối, sườn dốc: sơ tán theo hướng dẫn của "
            "chính quyền xã. Cần cứu nạn, gọi 112.",
            "Very heavy rain, high risk of flash floods and landslides. Homes near streams or steep slopes: leave as "
            "the commune directs. For rescue call 112.",
        ),
        "Cancel": (
            "Mưa lớn đã kết thúc. Vẫn cẩn thận với nước lũ, đất đá sạt lở sau mưa.",
            "The heavy rain is over. Still beware of flood water and landslides after the rain.",
        ),
    },
    "dam": {
        "Minor": (
            "Theo dõi thông báo của chính quyền và đơn vị quản lý hồ đập.",
            "Follow the notices of the authorities and the dam operator.",
        ),
        "Moderate": (
            "Vùng hạ du: không ở lại bãi sông, không đánh bắt cá dưới chân đập. Kê cao đồ đạc, sẵn sàng sơ tán khi "
            "có lệnh.",
            "Downstream: do not stay on river banks or fish below the dam. Raise belongings and be ready to leave "
            "when told.",
        ),
        "Extreme": (
            "Vùng hạ du đập: sơ tán ngay lên chỗ cao theo hướng dẫn của chính quyền xã. Không đi qua sông, suối. "
            "Cần cứu nạn, gọi 112.",
            "Downstream of the dam: go to high ground now as the commune directs. Do not cross rivers or streams. "
            "For rescue call 112.",
        ),
        "Cancel": (
            "Cảnh báo hồ đập đã kết thúc. Tiếp tục theo dõi thông báo của chính quyền địa phương.",
            "The dam warning is over. Keep following the local authorities' notices.",
        ),
    },
    "fire": {
        "Minor": (
            "Không đốt lửa, đốt nương rẫy trong và gần rừng. Thấy cháy, báo ngay chính quyền hoặc gọi 114.",
            "Light no fires in or near the forest. If you see a fire, tell the authorities or call 114.",
        ),
        "Severe": (
            "Cấm dùng lửa trong rừng và ven rừng. Hạn chế vào rừng. Thấy cháy, báo ngay chính quyền hoặc gọi 114.",
            "No fire of any kind in or near the forest. Avoid going into the forest. If you see a fire, tell the "
            "authorities or call 114.",
        ),
        "Cancel": (
            "Nguy cơ cháy rừng đã giảm. Vẫn cẩn thận khi dùng lửa gần rừng.",
            "The forest fire danger has fallen. Still take care with fire near the forest.",
        ),
    },
    "fire_seen": {
        "Minor": (
            "Tránh xa khu vực đang cháy và hướng khói bay. Không vào rừng. Báo ngay chính quyền hoặc gọi 114.",
            "Keep away from the fire and its smoke. Do not go into the forest. Tell the authorities or call 114.",
        ),
        "Cancel": (
            "Đám cháy đã được xử lý. Không vào khu vực vừa cháy khi chưa được phép.",
            "The fire has been dealt with. Do not enter the burnt area until allowed.",
        ),
    },
    "risk": {
        "Minor": (
            "Theo dõi thông tin thiên tai của chính quyền địa phương.",
            "Follow the local authorities' disaster information.",
        ),
        "Moderate": (
            "Chuẩn bị đồ dùng thiết yếu, gia cố nhà cửa, sẵn sàng sơ tán khi chính quyền yêu cầu.",
            "Pack essentials, secure your home and be ready to leave when the authorities ask.",
        ),
        "Extreme": (
            "Sơ tán đến nơi an toàn theo hướng dẫn của chính quyền. Cần cứu nạn, gọi 112.",
            "Go to a safe place as the authorities direct. For rescue call 112.",
        ),
        "Cancel": (
            "Cảnh báo thiên tai đã kết thúc. Tiếp tục theo dõi thông tin của chính quyền địa phương.",
            "The disaster warning is over. Keep following the local authorities' information.",
        ),
    },
    "technical": {
        "Minor": ("Kiểm tra trạm đo và đường truyền.", "Check the station and its link."),
        "Cancel": ("Dữ liệu đã trở lại bình thường.", "The data is back to normal."),
    },
}
_SEVERITY_ORDER = ("Minor", "Moderate", "Severe", "Extreme")

# Families whose worst case calls for leaving home (responseType Evacuate, with the instruction saying where).
_EVACUATE_AT_EXTREME = frozenset({"flood", "dam", "risk", "rain"})


class CapRef(NamedTuple):
    """One earlier message of the same alarm, as CAP's ``references`` names it."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class CapArea:
    """The administrative unit a warning is for, as CAP's ``area`` describes it.

    ``polygon``: a closed ring of (lat, lon) points (WGS 84), first point repeated last, where the unit's boundary
    is known; the unit table has only centroids, which say nothing of a unit's extent, so they are not used.
    """

    code: str
    name: str
    province_code: str
    province_name: str | None = None
    polygon: tuple[tuple[float, float], ...] | None = None

    @property
    def description(self) -> str:
        if self.province_name and self.code != self.province_code:
            return f"{self.name}, {self.province_name}"
        return self.name


def cap_area(units: AdminUnits, code: str, polygon: Sequence[tuple[float, float]] | None = None) -> CapArea:
    """The CAP area of the current unit ``code`` (2-digit province or 5-digit commune) from the unit table."""
    try:
        unit = units.resolve(code)
    except UnitError as exc:
        raise CapError(f"area {code!r}: {exc}") from None
    if unit.code != code:
        raise CapError(
            f"area {code} is a retired code, now {unit.code} ({unit.name}): a warning names the current unit; "
            "correct the area of the station's node"
        )
    province = units.current.get(unit.province_code)
    return CapArea(
        code=unit.code,
        name=unit.name,
        province_code=unit.province_code if unit.level is UnitLevel.COMMUNE else unit.code,
        province_name=province.name if province is not None else None,
        polygon=tuple(polygon) if polygon is not None else None,
    )


def cap_time(when: datetime) -> str:
    """A CAP date-time: Vietnam's offset, whole seconds (the schema's pattern allows no fraction and no 'Z')."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise CapError(f"time {when.isoformat()} has no time zone: CAP times carry their offset")
    return when.astimezone(VN_TZ).replace(microsecond=0).isoformat()


def cap_identifier(alarm: Alarm, transition: Transition) -> str:
    """The message's identifier: one per alarm change, the same whenever that change is built again."""
    return f"{alarm.id}.{alarm.revision}.{transition.value}"


def public_rule(rule: str) -> bool:
    """Whether the rule's alarms are public warnings (the technicians' rules are not)."""
    family = FAMILIES.get(rule)
    return family is not None and family.kind != "technical"


def cap_alert(
    alarm: Alarm,
    transition: Transition,
    *,
    sender: str,
    area: CapArea,
    now: datetime,
    previous: Sequence[CapRef] | None = None,
    status: Status = "Actual",
    sender_name: str = "",
    sender_name_en: str = "",
    web: str | None = None,
    valid_for: timedelta | None = None,
    circle_km: float = 5.0,
) -> bytes:
    """One alarm change as a CAP 1.2 ``alert`` (UTF-8 XML with its declaration).

    ``sender``: the province IOC's id, e.g. ``ioc@hatinh.gov.vn``; ``now``: the time it is issued (``sent``);
    ``previous``: every earlier message of this alarm, oldest first (required for Update and Cancel);
    ``status``: Exercise for a drill, Test for a siren test; ``web``: the public status page, where ``{alarm_id}``
    is replaced by the alarm's id; ``valid_for``: how long after ``now`` it expires (by kind of rule if unset);
    ``circle_km``: radius drawn round a station whose coordinates the alarm's details give (``lat``, ``lon``).
    """
    family = _family(alarm)
    _check(alarm, transition, sender, area, previous or (), web)
    cancel = transition is Transition.CLEARED
    sent = now
    severity = "Minor" if cancel else CAP_SEVERITY[alarm.severity]
    root = ET.Element(_q("alert"))
    _text(root, "identifier", cap_identifier(alarm, transition))
    _text(root, "sender", sender)
    _text(root, "sent", cap_time(sent))
    _text(root, "status", status)
    _text(root, "msgType", MSG_TYPE[transition])
    if family.kind == "technical":
        _text(root, "scope", "Restricted")
        _text(root, "restriction", "Chỉ cho cán bộ kỹ thuật của Trung tâm điều hành; không phát cho người dân.")
    else:
        _text(root, "scope", "Public")
    if previous:
        _text(root, "references", " ".join(f"{r.sender},{r.identifier},{cap_time(r.sent)}" for r in previous))
    expires = sent + (CANCEL_VALID_FOR if cancel else valid_for or VALID_FOR[family.kind])
    common = _Common(
        family=family,
        severity=severity,
        urgency=_urgency(alarm, family, cancel, now),
        certainty=_certainty(alarm, family, cancel),
        responses=_responses(family, severity, cancel),
        onset=_onset(alarm, transition, family),
        expires=expires,
        web=web.replace("{alarm_id}", alarm.id) if web else None,
        parameters=parameters(alarm, area),
        circle=_circle(alarm.details, circle_km),
    )
    for lang in ("vi", "en"):
        _info(root, alarm, transition, area, common, lang, sender_name if lang == "vi" else sender_name_en)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)


@dataclass(frozen=True, slots=True)
class _Common:
    """What both language blocks share."""

    family: Family
    severity: str
    urgency: str
    certainty: str
    responses: tuple[str, ...]
    onset: datetime
    expires: datetime
    web: str | None
    parameters: list[tuple[str, str]]
    circle: str | None


def _q(tag: str) -> str:
    return f"{{{CAP_NS}}}{tag}"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, _q(tag))
    element.text = text
    return element


def _family(alarm: Alarm) -> Family:
    family = FAMILIES.get(alarm.rule)
    if family is None:
        known = ", ".join(sorted(FAMILIES))
        raise CapError(f"alarm {alarm.id}: rule {alarm.rule!r} has no CAP mapping (the rules mapped: {known})")
    return family


def _check(
    alarm: Alarm, transition: Transition, sender: str, area: CapArea, previous: Sequence[CapRef], web: str | None
) -> None:
    """Refuse, with the reason, what would make a message that misleads or that a CAP consumer rejects."""
    _check_alarm(alarm, transition, area)
    if web is not None and not re.match(r"^https?://[^\s<>\"]+$", web):
        raise CapError(f"web {web!r}: the public status page must be an absolute http(s) address")
    if not _CAP_ID.match(sender):
        raise CapError(f"sender {sender!r}: CAP forbids spaces, commas, '<' and '&' in it (e.g. ioc@hatinh.gov.vn)")
    if MSG_TYPE[transition] != "Alert" and not previous:
        raise CapError(
            f"alarm {alarm.id}: an {MSG_TYPE[transition]} must reference the alarm's earlier messages; pass previous="
        )
    for ref in previous:
        if not (_CAP_ID.match(ref.sender) and _CAP_ID.match(ref.identifier)):
            raise CapError(f"reference {ref!r}: sender and identifier may not hold spaces, commas, '<' or '&'")
    if area.polygon is not None:
        _check_polygon(area)


def _check_alarm(alarm: Alarm, transition: Transition, area: CapArea) -> None:
    where = f"alarm {alarm.id} ({alarm.rule} {alarm.subject})"
    if transition not in MSG_TYPE:
        raise CapError(f"{where}: a transition {transition.value!r} is not news to the public; no CAP message")
    if alarm.area is None:
        raise CapError(f"{where} has no area: a public warning must name the administrative unit (GSO code) it is for")
    if area.code != alarm.area:
        raise CapError(f"{where} is for area {alarm.area}, but the area given is {area.code} ({area.name})")
    if not area.name.strip():
        raise CapError(f"area {area.code} has no name: CAP's areaDesc is required")
    if (transition is Transition.CLEARED) == alarm.state.active:
        state = "still active" if alarm.state.active else "already cleared"
        raise CapError(f"{where} is {state}, which does not fit the transition {transition.value!r}")
    if not _CAP_ID.match(alarm.id):
        raise CapError(f"{where}: its id cannot be part of a CAP identifier (spaces, commas, '<' or '&')")


def _check_polygon(area: CapArea) -> None:
    ring = area.polygon or ()
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise CapError(
            f"area {area.code}: a CAP polygon is a closed ring of at least 4 points, the first repeated last"
        )
    for lat, lon in ring:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise CapError(f"area {area.code}: polygon point ({lat}, {lon}) is not a WGS 84 latitude, longitude")


def _urgency(alarm: Alarm, family: Family, cancel: bool, now: datetime) -> str:
    if cancel:
        return "Past"
    if family.kind == "forecast":
        first = _first_crossing(alarm.details)
        if first is not None and first - now > FORECAST_EXPECTED_WITHIN:
            return "Future"
        return "Expected"
    if family.kind in ("danger", "technical"):
        return "Expected"
    return "Immediate"


def _certainty(alarm: Alarm, family: Family, cancel: bool) -> str:
    if family.kind == "forecast":
        confidence = _confidence(alarm.details)
        # CAP: Likely is p > ~50 %; the engine warns from warn_confidence (0.8 by default) up.
        return "Possible" if confidence is not None and confidence <= 0.5 else "Likely"
    if cancel or family.kind in ("measured", "technical"):
        return "Observed"
    if family.kind == "danger":
        # A danger level says fire would catch and spread, not that one burns; at IV-V one is likely somewhere.
        return "Likely" if (alarm.level or 0) >= 4 else "Possible"
    # disaster_risk: observed while a measured hazard counts in it, Likely when it rests on forecasts alone.
    hazards = alarm.details.get("hazards")
    if isinstance(hazards, Mapping) and hazards:
        measured = [k for k, v in hazards.items() if not str(k).startswith("flood_forecast:") and v]
        return "Observed" if measured else "Likely"
    return "Observed"


def _responses(family: Family, severity: str, cancel: bool) -> tuple[str, ...]:
    if cancel:
        return ("AllClear",)
    if family.kind == "technical":
        return ("Assess",)
    if family.hazard == "fire_seen":
        return ("Avoid",)
    if family.hazard == "fire":
        return ("Prepare",) if severity in ("Severe", "Extreme") else ("Monitor",)
    if severity == "Extreme" and family.hazard in _EVACUATE_AT_EXTREME and family.kind != "forecast":
        return ("Evacuate",)
    return ("Monitor",) if severity == "Minor" else ("Prepare",)


def _onset(alarm: Alarm, transition: Transition, family: Family) -> datetime:
    if transition is Transition.CLEARED:
        return alarm.cleared_at or alarm.updated_at
    if family.kind == "forecast":
        first = _first_crossing(alarm.details)
        if first is not None:
            return first
    return alarm.started_at if transition is Transition.CREATED else alarm.updated_at


def _crossings(details: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = details.get("crossings")
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def _first_crossing(details: Mapping[str, Any]) -> datetime | None:
    times = []
    for c in _crossings(details):
        try:
            t = datetime.fromisoformat(str(c.get("expected")))
        except ValueError:
            continue
        if t.tzinfo is not None:
            times.append(t)
    return min(times, default=None)


def _confidence(details: Mapping[str, Any]) -> float | None:
    values = [float(c["confidence"]) for c in _crossings(details) if isinstance(c.get("confidence"), int | float)]
    return max(values, default=None)


def _circle(details: Mapping[str, Any], radius_km: float) -> str | None:
    lat, lon = details.get("lat"), details.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float) or isinstance(lat, bool):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not math.isfinite(radius_km) or radius_km < 0:
        return None
    return f"{lat:.5f},{lon:.5f} {radius_km:g}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def parameters(alarm: Alarm, area: CapArea) -> list[tuple[str, str]]:
    """(valueName, value) pairs that machines read: the alarm's levels and values, named in docs/warnings-cap.md."""
    out: list[tuple[str, str]] = [("IOCGW_ALARM_ID", alarm.id), ("GSO_PROVINCE", area.province_code)]
    # A cleared alarm's level is 0; what ended is its peak, named as such so no reader takes it for the present.
    cleared = alarm.cleared_at is not None
    level = alarm.peak_level if cleared else alarm.level
    peak = "_PEAK" if cleared else ""
    per_rule = _RULE_PARAMETERS.get(alarm.rule)
    if per_rule is not None:
        out += per_rule(alarm, level, peak)
    risk = _risk_level(alarm, level)
    if risk:
        out.append(("VN_DISASTER_RISK_LEVEL" + peak, str(risk)))
    confidence = _confidence(alarm.details)
    if confidence is not None:
        out.append(("FORECAST_CONFIDENCE", f"{confidence:.2f}"))
    return out


def _flood_parameters(alarm: Alarm, level: int | None, peak: str) -> list[tuple[str, str]]:
    d = alarm.details
    out = [(name, str(d[key])) for key, name in (("station", "STATION"), ("river", "RIVER")) if d.get(key)]
    out.append(("STATION_ID", alarm.subject))
    if level:
        out.append(("BD_LEVEL" + peak, str(level)))
    value = _number(alarm.value)
    if value is not None:
        out.append(("WATER_LEVEL_M" if alarm.rule == "flood_level" else "FORECAST_PEAK_M", f"{value:.2f}"))
    return out


def _dam_parameters(alarm: Alarm, level: int | None, peak: str) -> list[tuple[str, str]]:
    out = [("RESERVOIR", alarm.subject.split("/")[0])]
    if alarm.details.get("band"):
        out.append(("RESERVOIR_BAND", str(alarm.details["band"])))
    value = _number(alarm.value)
    # Only a level alarm's value is a water level; the others are a rate, a flow or an instrument's reading.
    if value is not None and (alarm.rule == "reservoir_forecast" or alarm.subject.endswith("/level")):
        out.append(("WATER_LEVEL_M" if alarm.rule == "dam_safety" else "FORECAST_PEAK_M", f"{value:.2f}"))
    return out


def _rain_parameters(alarm: Alarm, level: int | None, peak: str) -> list[tuple[str, str]]:
    out = [("RAIN_GAUGE", alarm.subject)]
    for key, name in (("acc_12h_mm", "RAIN_12H_MM"), ("acc_24h_mm", "RAIN_24H_MM")):
        mm = _number(alarm.details.get(key))
        if mm is not None:
            out.append((name, f"{mm:.1f}"))
    return out


def _fire_parameters(alarm: Alarm, level: int | None, peak: str) -> list[tuple[str, str]]:
    out = []
    if level and 1 <= level <= len(_ROMAN):
        out.append(("FIRE_DANGER_LEVEL" + peak, _ROMAN[level - 1]))
    value = _number(alarm.value)
    if value is not None:
        out.append(("NESTEROV_P", f"{value:.0f}"))
    return out


_RULE_PARAMETERS: dict[str, Callable[[Alarm, int | None, str], list[tuple[str, str]]]] = {
    "flood_level": _flood_parameters,
    "flood_forecast": _flood_parameters,
    "dam_safety": _dam_parameters,
    "reservoir_forecast": _dam_parameters,
    "heavy_rain": _rain_parameters,
    "forest_fire_danger": _fire_parameters,
}


def _risk_level(alarm: Alarm, level: int | None) -> int | None:
    """Cấp độ rủi ro thiên tai (QĐ 18/2021/QĐ-TTg) where the alarm carries one: heavy rain's level is one
    (Điều 44), the area's risk alarm is one, and any rule may put ``risk_level`` in its details."""
    if alarm.rule in ("heavy_rain", "disaster_risk"):
        return level or None
    risk = alarm.details.get("risk_level")
    if isinstance(risk, bool) or not isinstance(risk, int) or not 1 <= risk <= 5:
        return None
    return risk


def _level_text(alarm: Alarm, lang: str) -> str:
    level = alarm.peak_level if alarm.cleared_at is not None else alarm.level
    if not level:
        return ""
    if alarm.rule in ("flood_level", "flood_forecast"):
        return f" BĐ{level}" if lang == "vi" else f" alarm level {level} (BĐ{level})"
    if alarm.rule in ("heavy_rain", "disaster_risk"):
        return f" cấp độ {level}" if lang == "vi" else f" risk level {level}"
    if alarm.rule == "forest_fire_danger" and 1 <= level <= len(_ROMAN):
        return f" cấp {_ROMAN[level - 1]}" if lang == "vi" else f" level {_ROMAN[level - 1]}"
    return ""


def headline(alarm: Alarm, transition: Transition, area: CapArea, lang: Literal["vi", "en"]) -> str:
    """The message's headline: what, how bad, where; short, as CAP asks (under 160 characters)."""
    family = _family(alarm)
    if lang == "vi":
        what = _HEADING_VI.get(alarm.rule, family.event_vi)
        change = _CHANGE_VI.get(transition)
    else:
        what = _HEADING_EN.get(alarm.rule, family.event_en)
        change = _CHANGE_EN.get(transition)
    level = _level_text(alarm, lang)
    text = f"{what}{',' if level and lang == 'en' else ''}{level} – {area.description}"
    if change:
        text = f"{change}: {text}"
    return text if len(text) <= 160 else text[:159] + "…"


def _local(when: datetime) -> str:
    return f"{when.astimezone(VN_TZ):%H:%M %d/%m/%Y}"


def _description(alarm: Alarm, transition: Transition, area: CapArea, family: Family, lang: str) -> str:
    at = _local(alarm.cleared_at or alarm.updated_at)
    if lang == "vi":
        # The rule's own message is Vietnamese and names the place and the value ("Sông Hương tại Kim Long: ...").
        text = f"{alarm.message or family.event_vi}. Thời điểm: {at} (giờ Việt Nam). Khu vực: {area.description}."
        if transition is Transition.CLEARED and alarm.peak_level:
            text += f" Mức cao nhất đã đạt:{_level_text(alarm, 'vi')}."
        return text
    level = _level_text(alarm, "en")
    where = f" at {alarm.details['station']}" if alarm.details.get("station") else ""
    value = _number(alarm.value)
    text = f"{family.event_en}{where}"
    if transition is Transition.CLEARED:
        text += f" has ended{(', peak' + level) if level else ''}"
    elif level:
        text += f":{level}"
    if value is not None and transition is not Transition.CLEARED and alarm.rule in _VALUE_EN:
        text += ", " + _VALUE_EN[alarm.rule].format(value)
    return f"{text}. Time: {at} (UTC+7). Area: {area.description}."


_VALUE_EN = {
    "flood_level": "water level {:.2f} m",
    "flood_forecast": "forecast peak {:.2f} m",
    "heavy_rain": "{:.0f} mm in 24 h",
    "reservoir_forecast": "forecast peak {:.2f} m",
    "forest_fire_danger": "Nesterov index {:.0f}",
    "camera_fire": "detection score {:.2f}",
}


def _instruction(family: Family, severity: str) -> tuple[str, str]:
    table = _INSTRUCTIONS[family.hazard]
    if severity in table:
        return table[severity]
    # The nearest milder wording given: e.g. Severe floods take Moderate's (prepare, be ready to leave).
    for s in reversed(_SEVERITY_ORDER[: _SEVERITY_ORDER.index(severity)]):
        if s in table:
            return table[s]
    return table["Minor"]


def _info(
    root: ET.Element,
    alarm: Alarm,
    transition: Transition,
    area: CapArea,
    c: _Common,
    lang: Literal["vi", "en"],
    sender_name: str,
) -> None:
    info = ET.SubElement(root, _q("info"))
    _text(info, "language", "vi-VN" if lang == "vi" else "en-US")
    for category in c.family.categories:
        _text(info, "category", category)
    _text(info, "event", c.family.event_vi if lang == "vi" else c.family.event_en)
    for response in c.responses:
        _text(info, "responseType", response)
    _text(info, "urgency", c.urgency)
    _text(info, "severity", c.severity)
    _text(info, "certainty", c.certainty)
    code = ET.SubElement(info, _q("eventCode"))
    _text(code, "valueName", "IOCGW_RULE")
    _text(code, "value", alarm.rule)
    _text(info, "onset", cap_time(c.onset))
    _text(info, "expires", cap_time(c.expires))
    if sender_name:
        _text(info, "senderName", sender_name)
    _text(info, "headline", headline(alarm, transition, area, lang))
    _text(info, "description", _description(alarm, transition, area, c.family, lang))
    vi, en = _instruction(c.family, "Cancel" if transition is Transition.CLEARED else c.severity)
    _text(info, "instruction", vi if lang == "vi" else en)
    if c.web:
        _text(info, "web", c.web)
    for name, value in c.parameters:
        parameter = ET.SubElement(info, _q("parameter"))
        _text(parameter, "valueName", name)
        _text(parameter, "value", value)
    area_el = ET.SubElement(info, _q("area"))
    _text(area_el, "areaDesc", area.description)
    if area.polygon:
        _text(area_el, "polygon", " ".join(f"{lat:.5f},{lon:.5f}" for lat, lon in area.polygon))
    if c.circle:
        _text(area_el, "circle", c.circle)
    geocode = ET.SubElement(area_el, _q("geocode"))
    _text(geocode, "valueName", "GSO")
    _text(geocode, "value", area.code)
