"""What every notifier shares: the Notification it delivers, its config base, its interface and its error."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from hub.alerts.alarm import Alarm, Transition

# Bump when the JSON payload changes incompatibly; receivers can branch on it.
PAYLOAD_VERSION = 1

TargetName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


class Notification(BaseModel):
    """One alarm change on its way to one target; what is stored in the queue and sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Idempotency key: the same alarm change to the same target always has this id")
    alarm: Alarm = Field(description="The alarm as it was when the change happened")
    transition: Transition = Field(description="What changed (created, escalated, cleared, ...)")
    target: str = Field(description="Name of the target this copy is for")
    escalation: bool = Field(False, description="Sent because nobody acknowledged the alarm in time")
    created_at: AwareDatetime = Field(description="When the hub made this notification")

    @classmethod
    def make(
        cls, alarm: Alarm, transition: Transition, target: str, now: datetime, *, escalation_key: str | None = None
    ) -> Notification:
        """A notification with the standard id; ``escalation_key`` names the escalation step, if it is one."""
        return cls(
            id=notification_id(alarm, transition, escalation_key),
            alarm=alarm,
            transition=transition,
            target=target,
            escalation=escalation_key is not None,
            created_at=now,
        )

    @property
    def event_time(self) -> datetime:
        """When the event this notification reports happened (an escalation happens when it is sent)."""
        return self.created_at if self.escalation else self.alarm.updated_at

    def payload(self) -> dict[str, Any]:
        """The JSON document webhooks and MQTT carry (docs/notifications.md, 'Payload')."""
        return {"version": PAYLOAD_VERSION, **self.model_dump(mode="json")}

    def body(self) -> bytes:
        """The payload as compact UTF-8 JSON (Vietnamese text stays readable, not \\u-escaped)."""
        return json.dumps(self.payload(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def summary(self) -> str:
        """One line for a subject or an annotation: severity, rule, subject, state and message."""
        a = self.alarm
        head = f"{a.severity.value.upper()} {a.rule} {a.subject} {a.state.value}"
        if self.escalation:
            head = f"ESCALATION {head}"
        return f"{head}: {a.message}" if a.message else head

    def detail_lines(self) -> list[str]:
        """The alarm's fields, one ``label: value`` per line, for plain-text bodies."""
        a = self.alarm
        rows: list[tuple[str, Any]] = [
            ("Rule", a.rule),
            ("Subject", a.subject),
            ("Area", a.area),
            ("Severity", a.severity.value),
            ("Level", a.level),
            ("State", a.state.value),
            (
                "Transition",
                self.transition.value + (" (escalation: not acknowledged in time)" if self.escalation else ""),
            ),
            ("Value", a.value),
            ("Message", a.message),
            ("Started", a.started_at.isoformat()),
            ("Updated", a.updated_at.isoformat()),
            ("Cleared", a.cleared_at.isoformat() if a.cleared_at else None),
            ("Acknowledged by", a.acked_by),
            ("Alarm id", f"{a.id} (revision {a.revision})"),
            ("Notification id", self.id),
        ]
        lines = [f"{label}: {value}" for label, value in rows if value not in (None, "")]
        lines += [f"  {key}: {value}" for key, value in sorted(a.details.items())]
        return lines


def notification_id(alarm: Alarm, transition: Transition, escalation_key: str | None = None) -> str:
    """``<alarm id>.<revision>.<transition>``; for an escalation ``<alarm id>.escalation.<key>``."""
    if escalation_key is not None:
        return f"{alarm.id}.escalation.{escalation_key}"
    return f"{alarm.id}.{alarm.revision}.{transition.value}"


class NotifyError(Exception):
    """A delivery attempt failed; ``retryable`` says whether trying again can help."""

    def __init__(self, message: str, *, retryable: bool, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s  # the receiver's own wish (HTTP Retry-After), used instead of backoff


class NotifierConfig(BaseModel):
    """Base of every target's settings; subclasses add ``type: Literal["<key>"]`` and their fields."""

    model_config = ConfigDict(extra="forbid")

    name: TargetName = Field(description="Unique target name that routes refer to, e.g. ops-webhook")
    timeout_s: float = Field(10.0, gt=0, le=300, description="Longest one delivery attempt may take")
    rate_limit_per_min: float | None = Field(
        None, gt=0, description="Deliveries per minute to this target; default: the notify section's value"
    )


class Notifier(ABC):
    """Delivers notifications to one target.

    Lifecycle: ``start()`` once before the first send (may raise; the dispatcher retries it later),
    ``send(notification)`` for each delivery, one at a time, ``close()`` once at shutdown. ``send`` returns only
    when the target has the notification and raises NotifyError otherwise; it never retries by itself and never
    waits longer than the config's ``timeout_s``: the dispatcher owns queueing, retries and rate limits.
    """

    KEY: ClassVar[str]

    def __init__(self, config: NotifierConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections or sessions; default: nothing to do."""

    @abstractmethod
    async def send(self, notification: Notification) -> None:
        """Deliver one notification; raise NotifyError on failure."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; default: nothing to do."""
