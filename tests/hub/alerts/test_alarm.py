"""The alarm life cycle: one active alarm per rule and subject, escalation, clear, acknowledgement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts.alarm import AlarmState, Condition, Transition, acknowledge, apply_condition
from hub.alerts.rules.severity import Severity

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def cond(active: bool = True, severity: Severity = Severity.MINOR, level: int | None = 1, value: float = 9.6):
    return Condition(active=active, severity=severity, level=level, value=value, message="m")


def test_created_then_updated_in_place_not_duplicated():
    alarm, t = apply_condition(None, "flood_level", "st/wl", cond(), T0, area="01")
    assert t is Transition.CREATED and alarm.state is AlarmState.ACTIVE_UNACK and alarm.area == "01"
    again, t2 = apply_condition(alarm, "flood_level", "st/wl", cond(value=9.7), T0 + timedelta(minutes=5))
    assert t2 is Transition.UPDATED and again.id == alarm.id and again.value == 9.7 and again.revision == 1
    same, t3 = apply_condition(again, "flood_level", "st/wl", cond(value=9.7), T0 + timedelta(minutes=10))
    assert t3 is None and same is again


def test_escalation_needs_a_new_acknowledgement():
    alarm, _ = apply_condition(None, "flood_level", "st/wl", cond(), T0)
    acked, t = acknowledge(alarm, "officer-1", "on it", T0)
    assert t is Transition.ACKNOWLEDGED and acked.state is AlarmState.ACTIVE_ACK
    up, t2 = apply_condition(acked, "flood_level", "st/wl", cond(severity=Severity.CRITICAL, level=3), T0)
    assert t2 is Transition.ESCALATED and up.state is AlarmState.ACTIVE_UNACK and up.acked_by is None
    down, t3 = apply_condition(up, "flood_level", "st/wl", cond(severity=Severity.MAJOR, level=2), T0)
    assert t3 is Transition.DEESCALATED and down.id == alarm.id


def test_level_rise_at_same_severity_is_an_escalation():
    alarm, _ = apply_condition(None, "r", "s", cond(level=1), T0)
    _, t = apply_condition(alarm, "r", "s", cond(level=2), T0)
    assert t is Transition.ESCALATED


def test_clear_keeps_acknowledgement_and_new_activation_opens_a_new_alarm():
    alarm, _ = apply_condition(None, "r", "s", cond(), T0)
    acked, _ = acknowledge(alarm, "officer-1", None, T0)
    cleared, t = apply_condition(acked, "r", "s", cond(active=False, value=9.0), T0 + timedelta(hours=1))
    assert t is Transition.CLEARED and cleared.state is AlarmState.CLEARED_ACK and cleared.cleared_at is not None
    quiet, t2 = apply_condition(cleared, "r", "s", cond(active=False), T0 + timedelta(hours=2))
    assert t2 is None and quiet is cleared
    new, t3 = apply_condition(cleared, "r", "s", cond(), T0 + timedelta(hours=3))
    assert t3 is Transition.CREATED and new.id != alarm.id


def test_clear_without_ack_and_late_ack():
    alarm, _ = apply_condition(None, "r", "s", cond(), T0)
    cleared, _ = apply_condition(alarm, "r", "s", cond(active=False), T0)
    assert cleared.state is AlarmState.CLEARED_UNACK
    acked, t = acknowledge(cleared, "officer-2", "seen", T0)
    assert acked.state is AlarmState.CLEARED_ACK and t is Transition.ACKNOWLEDGED
    assert acknowledge(acked, "officer-3", None, T0)[1] is None
