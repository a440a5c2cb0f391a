"""The alert engine: evaluates every incoming observation, keeps one alarm per rule and subject, and persists
alarm state, rule state and the events to notify in one transaction before the hub acknowledges the messages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from hub.alerts.alarm import NOTIFY_ON, Alarm, Condition, Transition, acknowledge, apply_condition
from hub.alerts.config import AlertsConfig, RuleTables
from hub.alerts.evaluate.base import Context, Evaluator, Observation
from hub.alerts.evaluate.camera import CameraEvaluator
from hub.alerts.evaluate.dam import DamEvaluator
from hub.alerts.evaluate.data_quality import DataQualityEvaluator
from hub.alerts.evaluate.fire import FireEvaluator
from hub.alerts.evaluate.flood import FloodEvaluator
from hub.alerts.evaluate.forecast import ForecastEvaluator
from hub.alerts.evaluate.freshness import FreshnessEvaluator
from hub.alerts.evaluate.rain import RainEvaluator
from hub.alerts.flagged import FlaggedReadings
from hub.alerts.rules.risk_level import combine_hazards, risk_colour
from hub.alerts.rules.severity import Severity
from hub.alerts.store import AlertStore
from hub.forecast.base import Forecast
from hub.quality.completeness import DayCompleteness
from hub.store.line_protocol import line
from wire import EventMessage
from wire.messages import to_epoch_ms
from wire.timepolicy import MAX_AHEAD

log = logging.getLogger(__name__)

RISK_SEVERITY = {1: Severity.INFO, 2: Severity.WARNING, 3: Severity.MINOR, 4: Severity.MAJOR, 5: Severity.CRITICAL}
Notify = Callable[[list[tuple[int, Alarm, Transition]]], None]


class AlertEngine:
    """Thread-safe: the hub's writer thread feeds it; operators act through it from worker threads.

    Every call blocks (SQLite, and the lock below): from a coroutine, use ``asyncio.to_thread``, never the loop.
    """

    def __init__(
        self,
        config: AlertsConfig,
        tables: RuleTables,
        store: AlertStore,
        *,
        areas: dict[str, str],
        intervals: dict[tuple[str, str], float],
        positions: dict[str, tuple[float, float]] | None = None,
        names: dict[str, str] | None = None,
        notify: Notify | None = None,
        notify_on: Iterable[Transition] = NOTIFY_ON,
        now: datetime | None = None,
    ) -> None:
        self.config = config
        # Changes queued for notification: those some route asks for (deescalated, updated and acknowledged too).
        self.notify_on = frozenset(notify_on)
        self.store = store
        self.areas = areas
        self.positions = positions or {}
        self.names = names or {}  # node id -> its name in the registry, for messages that name a place
        self.notify = notify
        # Still needed with one concurrency story per process: the ingest writer thread evaluates batches (process,
        # tick, lines_stored) while acknowledgements, release plans, rule reloads and the escalation check come
        # from asyncio.to_thread workers. The lock keeps one of them at a time on the alarms, the rule state and
        # the store's write connection; the writer must stay a thread (its InfluxDB and SQLite writes block).
        self._lock = threading.Lock()
        self.state = store.rule_state()
        self.alarms = store.active_alarms()
        self.hazards: dict[str, dict[str, int]] = self.state.get("engine:hazards", {})
        self.fire_levels: dict[str, int] = self.state.get("engine:fire_levels", {})
        self.last_seen: dict[tuple[str, str], float] = {}
        self.freshness = FreshnessEvaluator(config.freshness, intervals, now or datetime.now(UTC))
        self._returned_up_to = 0
        self._has_pending = True  # a crash may have left alarm lines behind: look once at the first pass
        self.counters = {"observations": 0, "findings": 0, "alarms_changed": 0, "events": 0, "future_ignored": 0}
        self.counters["flagged_ignored"] = 0
        self.flagged = FlaggedReadings()
        # Told the ids of alarms that changed, after each commit (the console's push). Called under the engine's lock
        # from whichever thread committed: a listener must be quick and thread-safe, and never call the engine.
        self.listeners: list[Callable[[list[str]], None]] = []
        self.load(tables)

    def load(self, tables: RuleTables) -> None:
        """Swap in new rule tables (a reload); state and alarms carry over."""
        evaluators: list[Evaluator] = [CameraEvaluator(tables.camera, names=self.names)]
        if tables.flood is not None:
            evaluators.append(FloodEvaluator(tables.flood, tables.risk))
        if self.config.rain_gauges:
            evaluators.append(RainEvaluator(self.config.rain_gauges, tables.rain, names=self.names))
        if tables.reservoirs is not None:
            evaluators.append(DamEvaluator(tables.reservoirs))
        if self.config.fire_areas:
            evaluators.append(FireEvaluator(self.config.fire_areas, tables.nesterov))
        if tables.quality is not None and tables.quality.completeness.alarms_on:  # data_quality, for technicians
            evaluators.append(DataQualityEvaluator(tables.quality.completeness))
        if self.config.forecast is not None:  # forecast warnings (hub/forecast): flood_forecast, reservoir_forecast
            settings = {"warn_confidence": tables.forecast.warn_confidence} if tables.forecast is not None else {}
            evaluators.append(ForecastEvaluator(tables.flood, tables.reservoirs, tables.risk, **settings))
        by_sensor: dict[tuple[str, str], list[Evaluator]] = {}
        by_nq: dict[tuple[str, str], list[Evaluator]] = {}
        for ev in evaluators:
            for key in ev.sensors():
                by_sensor.setdefault(key, []).append(ev)
            for key in ev.node_quantities():
                by_nq.setdefault(key, []).append(ev)
        with self._lock:
            self.tables = tables
            self.evaluators = evaluators
            self._by_sensor = by_sensor
            self._by_nq = by_nq
            # Read without the lock by the ingest thread to pick observations; replaced whole, never mutated.
            self.watched_sensors = frozenset(by_sensor)
            self.watched_node_quantities = frozenset(by_nq)

    def wants(self, node_id: str, sensor_id: str, quantity: str) -> bool:
        return (node_id, sensor_id) in self.watched_sensors or (node_id, quantity) in self.watched_node_quantities

    # -- evaluation -------------------------------------------------------------------------------------------
    def _context(self, now: datetime) -> Context:
        return Context(
            now=now,
            state=self.state,
            areas=self.areas,
            hazards=self.hazards,
            fire_levels=self.fire_levels,
            positions=self.positions,
        )

    def process(
        self,
        observations: Iterable[Observation],
        statuses: Iterable[tuple[str, str, datetime]] = (),
        events: Iterable[EventMessage] = (),
        seen: dict[tuple[str, str], float] | None = None,
        now: datetime | None = None,
    ) -> list[str]:
        """Evaluate one batch; returns line protocol (alarms and derived levels) for InfluxDB."""
        with self._lock:
            ctx = self._context(now or datetime.now(UTC))
            for key, seen_at in (seen or {}).items():
                if seen_at > self.last_seen.get(key, 0.0):
                    self.last_seen[key] = seen_at
            horizon = ctx.now + MAX_AHEAD
            for obs in sorted(observations, key=lambda o: o.ts):
                if obs.ts > horizon:
                    # Ingest refuses these (wire/timepolicy.py); a rule's "latest" must never jump to a time that
                    # has not come, or every real reading after it would be taken for a late one.
                    self.counters["future_ignored"] += 1
                    continue
                self._observe(obs, ctx)
            for node_id, state, ts in statuses:
                self.freshness.on_status(node_id, state, ts, ctx)
            for event in events:
                for ev in self.evaluators:
                    ev.on_event(event, ctx)
            return self._finish(ctx)

    def _observe(self, obs: Observation, ctx: Context) -> None:
        self.counters["observations"] += 1
        if obs.flag != "good":
            # Never moves an alarm by itself (docs/quality.md): kept to be named in the details of the next change a
            # trusted reading of the same sensor makes.
            self.counters["flagged_ignored"] += 1
            self.flagged.note(obs)
            return
        first = len(ctx.findings)
        for ev in self._by_sensor.get((obs.node_id, obs.sensor_id), ()):
            ev.on_observation(obs, ctx)
        for ev in self._by_nq.get((obs.node_id, obs.quantity), ()):
            ev.on_observation(obs, ctx)
        if len(ctx.findings) > first:
            self.flagged.annotate(obs, ctx.findings, first)
        if ctx.touched_areas:
            # Judged after each reading, at its time: the area's risk passes through every level its hazards did,
            # however the readings were cut into batches (one hub's writer, a cluster leader's feed: the same alarms
            # either way).
            self._risk(ctx, obs.ts)

    def tick(self, now: datetime | None = None) -> list[str]:
        """Time-driven rules: sensors gone silent, spillway releases coming up."""
        with self._lock:
            ctx = self._context(now or datetime.now(UTC))
            self.freshness.check(self.last_seen, ctx)
            for ev in self.evaluators:
                ev.on_tick(ctx)
            return self._finish(ctx)

    def forecasts(self, forecasts: Iterable[Forecast], now: datetime | None = None) -> list[str]:
        """Evaluate new forecasts (forecast warnings); returns line protocol like ``process``."""
        with self._lock:
            ctx = self._context(now or datetime.now(UTC))
            for forecast in forecasts:
                for ev in self.evaluators:
                    ev.on_forecast(forecast, ctx)
            return self._finish(ctx)

    def completeness(
        self, reports: Iterable[tuple[str, str, DayCompleteness]], now: datetime | None = None
    ) -> list[str]:
        """Evaluate (node_id, sensor_id, day's completeness) reports (data-quality alarms); line protocol back."""
        with self._lock:
            ctx = self._context(now or datetime.now(UTC))
            for node_id, sensor_id, day in reports:
                for ev in self.evaluators:
                    ev.on_completeness(node_id, sensor_id, day, ctx)
            return self._finish(ctx)

    def plan_release(
        self, reservoir_id: str, planned_open: datetime | None, who: str, release_m3s: float | None = None
    ) -> None:
        """Record (or cancel, with None) a planned spillway opening; the dam rule warns from its deadline, and the
        reservoir's level forecast draws ``release_m3s`` (when given) from the opening on."""
        tables = self.tables.reservoirs
        reservoir = next((r for r in tables.reservoirs if r.reservoir_id == reservoir_id), None) if tables else None
        if reservoir is None or reservoir.release is None:
            raise KeyError(f"reservoir {reservoir_id!r} is unknown or has no release plan in its table")
        if planned_open is not None and planned_open.tzinfo is None:
            raise ValueError("planned_open needs a time zone")
        with self._lock:
            plans = dict(self.state.get("dam:releases", {}))
            if planned_open is None:
                if reservoir_id in plans:  # kept, marked, so the next tick clears its alarm
                    plans[reservoir_id] = {**plans[reservoir_id], "cancelled": True, "by": who}
            else:
                plans[reservoir_id] = {"open": planned_open.isoformat(), "by": who}
                if release_m3s is not None:
                    plans[reservoir_id]["release_m3s"] = float(release_m3s)
            self.state["dam:releases"] = plans
            self.store.commit([], {"dam:releases": plans}, set())

    def planned_release(self, reservoir_id: str) -> tuple[datetime, float] | None:
        """The planned opening and its release (m³/s) for the reservoir's forecast; None: no plan with a flow."""
        with self._lock:
            plan = self.state.get("dam:releases", {}).get(reservoir_id)
        if not plan or plan.get("cancelled") or plan.get("release_m3s") is None:
            return None
        return datetime.fromisoformat(plan["open"]), float(plan["release_m3s"])

    def _finish(self, ctx: Context) -> list[str]:
        self._risk(ctx)  # hazards recorded by events, forecasts, ticks: at the pass's time
        self._risk_points(ctx)
        changed: list[tuple[Alarm, Transition]] = []
        for f in ctx.findings:
            self.counters["findings"] += 1
            key = (f.rule, f.subject)
            alarm, transition = apply_condition(self.alarms.get(key), f.rule, f.subject, f.condition, f.ts, f.area)
            if transition is None or alarm is None:
                continue
            changed.append((alarm, transition))
            if alarm.state.active:
                self.alarms[key] = alarm
            else:
                self.alarms.pop(key, None)
        if ctx.risk_areas:
            ctx.put("engine:hazards", self.hazards)
        lines = [line(p.measurement, p.tags, p.fields, to_epoch_ms(p.ts)) for p in ctx.points]
        if changed or ctx.dirty:  # most batches touch no rule: no transaction, no query on the ingest path
            alarm_lines = [_alarm_line(a, t) for a, t in changed]
            events = self.store.commit(changed, {k: self.state[k] for k in ctx.dirty}, set(self.notify_on), alarm_lines)
            self._has_pending = self._has_pending or bool(alarm_lines)
            self.counters["alarms_changed"] += len(changed)
            self._dispatch(events)
            self._tell([a.id for a, _ in changed])
        if not self._has_pending:
            return lines
        # Alarm lines come back through pending_lines (with any a crash left behind) until lines_stored().
        self._returned_up_to, pending = self.store.pending_lines()
        self._has_pending = bool(pending)
        return lines + pending

    def pending(self) -> list[str]:
        """Every line the store keeps until it is stored (alarm lines, and the quality lines a cluster leader
        commits with a batch); call ``lines_stored()`` once they are."""
        with self._lock:
            self._returned_up_to, pending = self.store.pending_lines()
            self._has_pending = bool(pending)
            return pending

    def lines_stored(self) -> None:
        """The hub has stored (or spooled) every line the engine returned so far."""
        with self._lock:
            self.store.lines_stored(self._returned_up_to)
            self._has_pending = bool(self.store.pending_lines()[1])

    def _area_risk(self, area: str) -> tuple[int, dict[str, int]]:
        """QĐ 18/2021: the area's risk level is its worst hazard's, raised when hazards coincide, capped at 5."""
        levels = one_flood_per_station(self.hazards.get(area, {}))
        return (combine_hazards(levels, self.tables.risk.escalation) if levels else 0), levels

    def _risk(self, ctx: Context, ts: datetime | None = None) -> None:
        """The risk of every area whose hazards were recorded since it was last judged, as of ``ts``."""
        for area in sorted(ctx.touched_areas):
            level, levels = self._area_risk(area)
            colour = risk_colour(level) if level else None
            condition = _risk_condition(level, levels, colour.name_vi if colour else None)
            ctx.emit("disaster_risk", area, area, condition, ts)
        ctx.risk_areas |= ctx.touched_areas
        ctx.touched_areas.clear()

    def _risk_points(self, ctx: Context) -> None:
        """One risk_level point per area judged in the pass, its level at the pass's end (for the dashboards)."""
        for area in sorted(ctx.risk_areas):
            level, levels = self._area_risk(area)
            colour = risk_colour(level) if level else None
            ctx.point(
                "risk_level",
                {"area": area},
                {"level": level, "colour": colour.hex if colour else "", "hazards": len(levels)},
                ctx.now,
            )

    def _dispatch(self, events: list[tuple[int, Alarm, Transition]]) -> None:
        if not events:
            return
        self.counters["events"] += len(events)
        if self.notify is None:
            return
        try:
            self.notify(events)
        except Exception:  # a notifier problem must never stop evaluation; the events stay undispatched
            log.exception("handing alarm events to the notifier failed")
            return
        self.store.mark_dispatched([e[0] for e in events])

    def _tell(self, ids: list[str]) -> None:
        if not ids:
            return
        for listener in self.listeners:
            try:
                listener(ids)
            except Exception:  # a listener's problem must never stop evaluation
                log.exception("an alarm listener failed")

    def redispatch(self) -> int:
        """Hand over events stored but not yet dispatched (after a crash between commit and dispatch)."""
        with self._lock:
            events = self.store.undispatched()
            self._dispatch(events)
            return len(events)

    def active(self) -> list[Alarm]:
        with self._lock:
            return list(self.alarms.values())

    # -- operators --------------------------------------------------------------------------------------------
    def acknowledge(self, alarm_id: str, who: str, comment: str | None, now: datetime | None = None) -> Alarm | None:
        with self._lock:
            alarm = self.store.get(alarm_id)
            if alarm is None:
                return None
            updated, transition = acknowledge(alarm, who, comment, now or datetime.now(UTC))
            if transition is not None:
                events = self.store.commit([(updated, transition)], {}, set(self.notify_on))
                if updated.state.active:
                    self.alarms[updated.key] = updated
                self._dispatch(events)
                self._tell([updated.id])
            return updated


def one_flood_per_station(levels: dict[str, int]) -> dict[str, int]:
    """A station's measured flood and its forecast flood are one hazard (QĐ 18/2021 Điều 4 raises the level for
    hazards that coincide, not for one flood seen twice): the higher of the two counts."""
    if not any(k.startswith(FORECAST_PREFIX) for k in levels):
        return levels
    out: dict[str, int] = {}
    for key, level in levels.items():
        if key.startswith(FORECAST_PREFIX):
            key = "flood:" + key.removeprefix(FORECAST_PREFIX)
        out[key] = max(level, out.get(key, 0))
    return out


FORECAST_PREFIX = "flood_forecast:"


def _risk_condition(level: int, hazards: dict[str, int], colour: str | None) -> Condition:
    return Condition(
        active=level >= 1,
        severity=RISK_SEVERITY.get(level, Severity.INFO),
        level=level,
        value=float(level),
        message=f"Cấp độ rủi ro thiên tai {level}" + (f" ({colour})" if colour else ""),
        details={"hazards": hazards},
    )


def _alarm_line(alarm: Alarm, transition: Transition) -> str:
    tags = {"rule": alarm.rule, "subject": alarm.subject, "area": alarm.area or "", "severity": alarm.severity.value}
    fields: dict[str, float | int | bool | str] = {
        "alarm_id": alarm.id,
        "state": alarm.state.value,
        "transition": transition.value,
        "active": alarm.state.active,
        "message": alarm.message,
    }
    if alarm.level is not None:
        fields["level"] = alarm.level
    if alarm.value is not None:
        fields["value"] = float(alarm.value)
    return line("alarm", tags, fields, to_epoch_ms(alarm.updated_at))
