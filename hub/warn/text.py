"""The words of a public warning: short, in Vietnamese first, the same for every channel.

The alarm's own message is already Vietnamese and names the place and the value ("Sông Hương tại Kim Long: 3.62 m,
trên BĐ3"); this adds what kind of warning it is, whether it starts, worsens or ends, the local time, and where to
read more. An SMS part holds 70 Vietnamese characters, so the heading is short and the link comes last.
"""

from __future__ import annotations

from datetime import timedelta

from hub.alerts.alarm import Alarm, Transition
from hub.warn.cap import FAMILIES

LOCAL = timedelta(hours=7)

HEADING_VI = {
    "flood_level": "CẢNH BÁO LŨ",
    "flood_forecast": "DỰ BÁO LŨ",
    "heavy_rain": "CẢNH BÁO MƯA LỚN",
    "dam_safety": "CẢNH BÁO HỒ ĐẬP",
    "reservoir_forecast": "DỰ BÁO MỰC NƯỚC HỒ",
    "forest_fire_danger": "CẢNH BÁO CHÁY RỪNG",
    "camera_fire": "PHÁT HIỆN CHÁY",
}
HEADING_EN = {
    "flood_level": "FLOOD WARNING",
    "flood_forecast": "FLOOD FORECAST",
    "heavy_rain": "HEAVY RAIN WARNING",
    "dam_safety": "DAM WARNING",
    "reservoir_forecast": "RESERVOIR FORECAST",
    "forest_fire_danger": "FOREST FIRE WARNING",
    "camera_fire": "FIRE DETECTED",
}
CHANGE_VI = {Transition.ESCALATED: "NÂNG CẤP", Transition.DEESCALATED: "HẠ CẤP", Transition.UPDATED: "CẬP NHẬT"}
CHANGE_EN = {Transition.ESCALATED: "RAISED", Transition.DEESCALATED: "LOWERED", Transition.UPDATED: "UPDATE"}


def hazard(rule: str) -> str:
    """flood, rain, dam, fire, risk, or other: the rule's family as CAP knows it (hub/warn/cap.py), one place."""
    family = FAMILIES.get(rule)
    if family is None or family.kind == "technical":
        return "other"
    return "fire" if family.hazard == "fire_seen" else family.hazard


def warning_text(alarm: Alarm, transition: Transition, link: str = "") -> tuple[str, str]:
    """(Vietnamese, English) text of one alarm change."""
    when = (alarm.cleared_at or alarm.updated_at) + LOCAL
    at = f"{when:%H:%M %d/%m}"
    head_vi = HEADING_VI.get(alarm.rule, "CẢNH BÁO")
    head_en = HEADING_EN.get(alarm.rule, "WARNING")
    tail = f" {link}" if link else ""
    if transition is Transition.CLEARED:
        vi = f"[HẾT {head_vi}] {alarm.message or alarm.subject}. Kết thúc lúc {at}.{tail}"
        en = f"[{head_en} ENDED] {alarm.subject} at {at} (UTC+7).{tail}"
        return vi, en
    change_vi, change_en = CHANGE_VI.get(transition), CHANGE_EN.get(transition)
    vi_head = f"[{head_vi} {change_vi}]" if change_vi else f"[{head_vi}]"
    en_head = f"[{head_en} {change_en}]" if change_en else f"[{head_en}]"
    level = f" level {alarm.level}" if alarm.level is not None else ""
    vi = f"{vi_head} {alarm.message or alarm.subject} ({at}). Theo dõi hướng dẫn của chính quyền địa phương.{tail}"
    en = f"{en_head} {alarm.subject}{level}, {alarm.severity.value}, at {at} (UTC+7). Follow local authorities.{tail}"
    return vi, en
