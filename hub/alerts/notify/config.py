"""The notify config: named targets, routes from alarms to targets, and delivery limits."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.alarm import NOTIFY_ON, Alarm, Transition

# Importing the notifier modules registers them; the union of target configs below is built from the registry.
from hub.alerts.notify import grafana, mqtt, smtp, webhook  # noqa: F401 - registration side effect
from hub.alerts.notify.base import NotifierConfig, TargetName
from hub.alerts.notify.registry import notifier_config_union
from hub.alerts.rules.severity import Severity


class Route(BaseModel):
    """Which alarms go to which targets, and who hears when nobody acknowledges one in time."""

    model_config = ConfigDict(extra="forbid")

    name: TargetName | None = Field(None, description="Names the route in logs and escalation records")
    min_severity: Severity = Field(Severity.INFO, description="Only alarms at least this severe")
    rules: list[str] | None = Field(None, description="Only alarms of these rules; default: every rule")
    areas: list[str] | None = Field(
        None,
        description="Only alarms whose GSO area code starts with one of these ('01': Hà Nội with its districts "
        "and communes); default: every alarm, with or without an area",
    )
    transitions: list[Transition] = Field(
        default_factory=lambda: [t for t in Transition if t in NOTIFY_ON],
        description="Which changes to send; default: created, escalated, cleared",
    )
    targets: list[TargetName] = Field(default_factory=list, description="Targets that get every matching change")
    escalate_after_s: float | None = Field(
        None, gt=0, description="Escalate an alarm still unacknowledged this long after it started or escalated"
    )
    escalate_to: list[TargetName] = Field(default_factory=list, description="Targets an escalation goes to")

    @model_validator(mode="after")
    def _consistent(self) -> Route:
        if (self.escalate_after_s is None) != (not self.escalate_to):
            raise ValueError("escalate_after_s and escalate_to go together")
        if not self.targets and not self.escalate_to:
            raise ValueError("a route needs targets, escalate_to or both")
        return self

    def selects(self, alarm: Alarm) -> bool:
        """The alarm is of a rule, severity and area this route is about."""
        if alarm.severity < self.min_severity:
            return False
        if self.rules is not None and alarm.rule not in self.rules:
            return False
        return self.areas is None or (alarm.area is not None and alarm.area.startswith(tuple(self.areas)))

    def matches(self, alarm: Alarm, transition: Transition) -> bool:
        """This change of this alarm goes to the route's targets."""
        return transition in self.transitions and self.selects(alarm)


class NotifyConfig(BaseModel):
    """Targets, routes, and the limits every delivery follows (docs/notifications.md)."""

    model_config = ConfigDict(extra="forbid")

    targets: list[notifier_config_union()] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Named destinations; 'type' picks webhook, mqtt, smtp or grafana"
    )
    routes: list[Route] = Field(default_factory=list, description="Each alarm change goes to every matching route")
    rate_limit_per_min: float = Field(60.0, gt=0, description="Deliveries per minute per target; excess waits")
    rate_limit_burst: int = Field(10, ge=1, description="Deliveries a target may get at once after a quiet time")
    retry_initial_s: float = Field(2.0, gt=0, description="Wait before the first retry; doubles with each failure")
    retry_max_s: float = Field(300.0, gt=0, description="Longest wait between retries")
    max_age_s: float = Field(
        86_400.0, gt=0, description="A delivery still failing this long after it was queued is marked failed"
    )
    keep_sent_s: float = Field(7 * 86_400.0, ge=0, description="How long delivered rows stay for inspection")
    keep_failed_s: float = Field(30 * 86_400.0, ge=0, description="How long failed rows stay for inspection")

    @model_validator(mode="after")
    def _references(self) -> NotifyConfig:
        names = [t.name for t in self.targets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"target names used twice: {', '.join(twice)}")
        route_names = [r.name for r in self.routes if r.name is not None]
        if len(route_names) != len(set(route_names)):
            raise ValueError("route names must be unique")
        for i, route in enumerate(self.routes):
            unknown = sorted(set(route.targets + route.escalate_to) - set(names))
            if unknown:
                raise ValueError(f"route {route.name or i} names unknown targets: {', '.join(unknown)}")
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s must be at least retry_initial_s")
        return self

    def target(self, name: str) -> NotifierConfig:
        """The config of the target called ``name``."""
        for t in self.targets:
            if t.name == name:
                return t
        raise KeyError(f"no notify target {name!r}")

    def rate_per_min(self, name: str) -> float:
        """The target's own rate limit, or the default."""
        own = self.target(name).rate_limit_per_min
        return own if own is not None else self.rate_limit_per_min

    def transitions(self) -> frozenset[Transition]:
        """Every change some route asks for; the engine queues these (the rest would go nowhere)."""
        wanted = {t for r in self.routes for t in r.transitions}
        # A clear must reach whoever was told, even on a route that only asked for creations.
        return frozenset(wanted | {Transition.CLEARED} if wanted else NOTIFY_ON)

    def route_key(self, index: int) -> str:
        """A route's stable name in escalation records: its name, else its position."""
        return self.routes[index].name or f"route{index}"
