"""What every evaluator sees and returns: observations in, findings and level points out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hub.alerts.alarm import Condition
from wire import EventMessage

if TYPE_CHECKING:
    from hub.forecast.base import Forecast
    from hub.quality.completeness import DayCompleteness


@dataclass(frozen=True, slots=True)
class Observation:
    node_id: str
    sensor_id: str
    quantity: str
    ts: datetime
    value: float
    # Quality control at the hub (hub/quality): a flagged reading reaches the engine, which counts it and names it
    # in alarm details, but never lets it move an alarm (docs/quality.md, "Flagged readings and alarms").
    flag: str = "good"
    check: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    subject: str
    area: str | None
    condition: Condition
    ts: datetime  # when the evidence was observed: alarms carry data time, so a replayed backlog keeps its timeline


@dataclass(frozen=True, slots=True)
class LevelPoint:
    """A derived level for the dashboards (written to InfluxDB beside the raw readings)."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | int | str | bool]
    ts: datetime


@dataclass
class Context:
    """One evaluation pass. ``state`` is the engine's persisted rule state; writes go through ``put``."""

    now: datetime
    state: dict[str, Any]
    areas: dict[str, str]  # node_id -> GSO code
    hazards: dict[str, dict[str, int]]  # area -> hazard -> risk level, kept by the engine between passes
    fire_levels: dict[str, int]  # area -> fire danger 1-5
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # node_id -> (lat, lon), for maps
    findings: list[Finding] = field(default_factory=list)
    points: list[LevelPoint] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    touched_areas: set[str] = field(default_factory=set)  # hazards recorded since the risk was last judged
    risk_areas: set[str] = field(default_factory=set)  # areas whose risk was judged in this pass

    def get(self, key: str, default: Any) -> Any:
        return self.state.get(key, default)

    def put(self, key: str, value: Any) -> None:
        self.state[key] = value
        self.dirty.add(key)

    def area_of(self, node_id: str) -> str | None:
        return self.areas.get(node_id)

    def emit(self, rule: str, subject: str, area: str | None, condition: Condition, ts: datetime | None = None) -> None:
        self.findings.append(Finding(rule, subject, area, condition, ts or self.now))

    def point(
        self,
        measurement: str,
        tags: dict[str, str],
        fields: dict[str, float | int | str | bool],
        ts: datetime,
        node_id: str | None = None,
    ) -> None:
        """A derived level for the dashboards; with ``node_id``, the node's position rides along (Geomap markers)."""
        where = self.positions.get(node_id) if node_id else None
        if where is not None:
            fields = {**fields, "lat": where[0], "lon": where[1]}
        self.points.append(LevelPoint(measurement, {k: v for k, v in tags.items() if v}, fields, ts))

    def hazard(self, area: str | None, hazard: str, level: int | None) -> None:
        """Record an area's current level for one hazard (for the combined disaster risk level)."""
        if area is None:
            return
        current = self.hazards.setdefault(area, {})
        if level:
            current[hazard] = level
        else:
            current.pop(hazard, None)
        self.touched_areas.add(area)


class Evaluator:
    """Lifecycle: built from the rule tables at load and on every reload; holds no state of its own (state lives
    in ``Context.state`` so that it is persisted and survives a restart)."""

    rule = ""

    def sensors(self) -> set[tuple[str, str]]:
        """(node_id, sensor_id) pairs whose readings this evaluator needs."""
        return set()

    def node_quantities(self) -> set[tuple[str, str]]:
        """(node_id, quantity) pairs whose readings this evaluator needs, whatever the sensor id."""
        return set()

    def on_observation(self, obs: Observation, ctx: Context) -> None:
        pass

    def on_status(self, node_id: str, state: str, ts: datetime, ctx: Context) -> None:
        pass

    def on_event(self, event: EventMessage, ctx: Context) -> None:
        pass

    def on_tick(self, ctx: Context) -> None:
        pass

    def on_forecast(self, forecast: Forecast, ctx: Context) -> None:
        """A station's new forecast (the hub's own or an imported official one): hub/forecast."""

    def on_completeness(self, node_id: str, sensor_id: str, day: DayCompleteness, ctx: Context) -> None:
        """One sensor's completeness for one local day so far: hub/quality/completeness."""


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)
