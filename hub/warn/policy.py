"""Which alarms go to whom, on which channels, when, and whether an officer must approve them first.

Pure functions over the config: the dispatcher asks ``policies_for(alarm, transition)`` and ``release_time`` and
stores the answer; nothing here sends or stores anything.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.alerts.alarm import Alarm, Transition
from hub.alerts.rules.severity import Severity
from hub.warn.message import SmsEncoding
from hub.warn.recipients import Role
from wire.messages import Identifier

LOCAL_OFFSET = timedelta(hours=7)  # Vietnam: UTC+7, no daylight saving
PUBLIC_ROLES: frozenset[str] = frozenset({"resident", "loudspeaker", "siren"})


class QuietHours(BaseModel):
    """Local (UTC+7) hours in which warnings below ``unless_severity`` wait for the morning instead of waking people."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time = Field(time(22, 0), description="Local time the quiet hours begin")
    end: time = Field(time(6, 0), description="Local time they end (the held messages go out then)")
    unless_severity: Severity = Field(
        Severity.MAJOR, description="Warnings at least this severe go out at any hour (a BĐ3 flood does)"
    )


class Policy(BaseModel):
    """One rule of distribution: alarms that match go to ``roles`` in the alarm's area over ``channels``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Identifier
    rules: list[str] | None = Field(
        None, description="Alarm rules it covers (flood_level, dam_safety, ...); all if unset"
    )
    min_severity: Severity = Field(Severity.MINOR, description="Only alarms at least this severe")
    min_level: int | None = Field(None, description="Only alarms at this level or above (BĐ level, rain level, ...)")
    transitions: frozenset[Transition] = Field(
        frozenset({Transition.CREATED, Transition.ESCALATED, Transition.CLEARED}),
        description="Which changes are sent: a warning, its escalation, its end",
    )
    roles: list[Role] = Field(
        description="Who receives it: resident, commune_official, dam_operator, loudspeaker, siren"
    )
    channels: list[str] = Field(min_length=1, description="Channel names; each recipient gets it on each they can use")
    approval: Literal["auto", "officer"] = Field(
        "officer",
        description="auto: sent at once; officer: held until an officer approves it (an end-of-warning for a "
        "warning that went out is never held)",
    )
    areas: list[str] | None = Field(None, description="Only alarms in these GSO units (province or commune codes)")
    sms_encoding: SmsEncoding = Field("ucs2", description="ucs2 keeps the diacritics; gsm7 is unaccented and cheaper")
    quiet_hours: QuietHours | None = None
    audio: str | None = Field(
        None, max_length=120, description="Stored audio file the commune loudspeakers play for the warning"
    )
    audio_end: str | None = Field(None, max_length=120, description="... and for its end; unset: nothing is played")

    @field_validator("transitions", mode="before")
    @classmethod
    def _list(cls, value: object) -> object:
        return frozenset(value) if isinstance(value, list | tuple | set) else value

    @property
    def public(self) -> bool:
        return bool(PUBLIC_ROLES & set(self.roles))

    def matches(self, alarm: Alarm, transition: Transition) -> bool:
        if transition not in self.transitions:
            return False
        if self.rules is not None and alarm.rule not in self.rules:
            return False
        # A clear is judged on what the alarm was at its worst: the people warned of a BĐ3 are told it is over.
        severity = (alarm.peak_severity or alarm.severity) if transition is Transition.CLEARED else alarm.severity
        level = alarm.peak_level if transition is Transition.CLEARED else alarm.level
        if severity.rank < self.min_severity.rank:
            return False
        if self.min_level is not None and (level is None or level < self.min_level):
            return False
        if self.areas is not None:
            area = alarm.area or ""
            if not any(area == a or (len(a) == 2 and area.startswith(a)) for a in self.areas):
                return False
        return alarm.area is not None


def policies_for(policies: list[Policy], alarm: Alarm, transition: Transition) -> list[Policy]:
    return [p for p in policies if p.matches(alarm, transition)]


def release_time(policy: Policy, severity: Severity, now: datetime) -> datetime:
    """``now``, or the end of the quiet hours when ``now`` falls in them and the warning is not severe enough."""
    q = policy.quiet_hours
    if q is None or severity.rank >= q.unless_severity.rank:
        return now
    local = now + LOCAL_OFFSET
    t = local.time()
    overnight = q.start > q.end
    inside = (t >= q.start or t < q.end) if overnight else (q.start <= t < q.end)
    if not inside:
        return now
    end_day = local.date() + timedelta(days=1) if overnight and t >= q.start else local.date()
    end_local = datetime.combine(end_day, q.end, tzinfo=now.tzinfo)
    return end_local - LOCAL_OFFSET
