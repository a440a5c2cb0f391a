"""Alarms and their life cycle: one active alarm per rule and subject, updated in place, never duplicated.

States follow ThingsBoard's: ACTIVE_UNACK -> ACTIVE_ACK (acknowledged) and either -> CLEARED_UNACK / CLEARED_ACK
when the clear condition holds. The functions here are pure: the engine owns storage, time and notification.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.alerts.rules.severity import Severity


class AlarmState(StrEnum):
    ACTIVE_UNACK = "ACTIVE_UNACK"
    ACTIVE_ACK = "ACTIVE_ACK"
    CLEARED_UNACK = "CLEARED_UNACK"
    CLEARED_ACK = "CLEARED_ACK"

    @property
    def active(self) -> bool:
        return self in (AlarmState.ACTIVE_UNACK, AlarmState.ACTIVE_ACK)

    @property
    def acknowledged(self) -> bool:
        return self in (AlarmState.ACTIVE_ACK, AlarmState.CLEARED_ACK)


class Transition(StrEnum):
    """What changed; the engine notifies on CREATED, ESCALATED and CLEARED."""

    CREATED = "created"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    UPDATED = "updated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"


NOTIFY_ON = frozenset({Transition.CREATED, Transition.ESCALATED, Transition.CLEARED})


class Condition(BaseModel):
    """What a rule found for one subject at one moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    active: bool
    severity: Severity = Severity.WARNING
    level: int | None = Field(None, description="Rule-specific level (BĐ 1-3, fire danger I-V as 1-5, ...)")
    value: float | None = None
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)


class Alarm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    rule: str = Field(description="The rule that raised it, e.g. flood_level, heavy_rain, dam_safety")
    subject: str = Field(description="What it is about: a station, reservoir, area or camera")
    area: str | None = Field(None, description="GSO administrative unit code of the subject")
    severity: Severity
    state: AlarmState
    level: int | None = None
    value: float | None = None
    message: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    started_at: AwareDatetime
    updated_at: AwareDatetime
    cleared_at: AwareDatetime | None = None
    acked_by: str | None = None
    acked_at: AwareDatetime | None = None
    ack_comment: str | None = None
    revision: int = Field(0, description="Grows with every change, for idempotent notifications")
    peak_severity: Severity | None = Field(None, description="The highest severity while active, kept after the clear")
    peak_level: int | None = Field(None, description="The highest level while active, kept after the clear")

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.subject


def apply_condition(
    existing: Alarm | None, rule: str, subject: str, condition: Condition, now: datetime, area: str | None = None
) -> tuple[Alarm | None, Transition | None]:
    """The alarm after a rule's finding, and what changed (None: nothing worth storing).

    An active alarm is updated in place; a cleared one is history, so a new activation opens a new alarm.
    Escalation asks for a fresh acknowledgement: an officer who acknowledged BĐ1 has not acknowledged BĐ3.
    """
    live = existing if existing is not None and existing.state.active else None
    if condition.active:
        if live is None:
            alarm = Alarm(
                id=uuid.uuid4().hex,
                rule=rule,
                subject=subject,
                area=area,
                severity=condition.severity,
                state=AlarmState.ACTIVE_UNACK,
                level=condition.level,
                value=condition.value,
                message=condition.message,
                details=condition.details,
                started_at=now,
                updated_at=now,
                peak_severity=condition.severity,
                peak_level=condition.level,
            )
            return alarm, Transition.CREATED
        changes: dict[str, Any] = {
            "value": condition.value,
            "message": condition.message or live.message,
            "details": condition.details,
            "updated_at": now,
            "revision": live.revision + 1,
        }
        escalated = condition.severity > live.severity or (
            condition.severity == live.severity and (condition.level or 0) > (live.level or 0)
        )
        lowered = condition.severity < live.severity or (
            condition.severity == live.severity and (condition.level or 0) < (live.level or 0)
        )
        changes.update(
            severity=condition.severity,
            level=condition.level,
            peak_severity=max(condition.severity, live.peak_severity or live.severity),
            peak_level=_higher(condition.level, live.peak_level if live.peak_level is not None else live.level),
        )
        if escalated:
            changes.update(state=AlarmState.ACTIVE_UNACK, acked_by=None, acked_at=None, ack_comment=None)
            return live.model_copy(update=changes), Transition.ESCALATED
        if lowered:
            return live.model_copy(update=changes), Transition.DEESCALATED
        if condition.value == live.value and condition.details == live.details:
            return live, None
        return live.model_copy(update=changes), Transition.UPDATED
    if live is None:
        return existing, None
    state = AlarmState.CLEARED_ACK if live.state is AlarmState.ACTIVE_ACK else AlarmState.CLEARED_UNACK
    # A clear says how things stand now (the river back under BĐ1: level 0, the reading that cleared it); how bad it
    # got stays in the peaks. Whoever was told of the alarm hears of the clear whatever its severity now.
    cleared = live.model_copy(
        update={
            "state": state,
            "cleared_at": now,
            "updated_at": now,
            "severity": condition.severity,
            "level": condition.level,
            "value": condition.value if condition.value is not None else live.value,
            "message": condition.message or live.message,
            "details": condition.details or live.details,
            "revision": live.revision + 1,
            "peak_severity": live.peak_severity or live.severity,
            "peak_level": live.peak_level if live.peak_level is not None else live.level,
        }
    )
    return cleared, Transition.CLEARED


def _higher(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def acknowledge(alarm: Alarm, who: str, comment: str | None, now: datetime) -> tuple[Alarm, Transition | None]:
    """Acknowledge once; acknowledging again changes nothing."""
    if alarm.state.acknowledged:
        return alarm, None
    state = AlarmState.ACTIVE_ACK if alarm.state.active else AlarmState.CLEARED_ACK
    updated = alarm.model_copy(
        update={
            "state": state,
            "acked_by": who,
            "acked_at": now,
            "ack_comment": comment,
            "updated_at": now,
            "revision": alarm.revision + 1,
        }
    )
    return updated, Transition.ACKNOWLEDGED
