"""Quality control on a stream of readings: one small state per sensor, a ``Verdict`` per reading.

In order, each reading is judged at once on its value (hard and soft limits, intensity), its change from the last
trusted reading (rate of change) and how long the value has stood still (flat line). Whether it is a spike needs
the next reading, so that judgement comes one reading later, as a ``Revision`` carried by the next reading's
verdict; a flat line found late revises the earlier readings of the run the same way. The trade-off is in
docs/quality.md ("The spike check waits for the next reading").

Readings that come back (an outbox replaying after a link outage, a broker redelivering) and readings older than
the newest one are handled without moving the state backwards: an exact repeat of a recent reading gets that
reading's verdict (as revised since), a different value for a recent instant is suspect, and an older reading is
judged on its value and on its change from the recent reading before it, never changing what later readings are
compared with.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from hub.alerts.rules.base import require_aware
from hub.quality import checks
from hub.quality.config import QualityConfig, QuantityChecks
from hub.quality.flags import CheckName, Finding, Flag, Gap
from wire.quantities import Quantity

RECENT = 16  # readings remembered per sensor, to recognise repeats and place late readings
DEFAULT_MAX_SENSORS = 20_000


@dataclass(frozen=True)
class Revision:
    """Readings of the sensor stamped in ``[start, end]`` are at least ``flag`` (a spike or flat line seen late)."""

    start: datetime
    end: datetime
    flag: Flag
    check: CheckName
    detail: str


@dataclass(frozen=True)
class Verdict:
    """What a reading is worth: the worst flag, the check that gave it (None when good) and why.

    ``findings`` lists every failed check; ``revised`` re-judges earlier readings of the same sensor; ``gap`` is a
    silence that ended with this reading; ``late`` says the reading came after a newer one and was judged on
    less (limits, and rate against the reading before it).
    """

    flag: Flag = Flag.GOOD
    check: CheckName | None = None
    detail: str = ""
    findings: tuple[Finding, ...] = ()
    revised: tuple[Revision, ...] = ()
    gap: Gap | None = None
    late: bool = False


def verdict_of(
    findings: Iterable[Finding], revised: tuple[Revision, ...] = (), gap: Gap | None = None, late: bool = False
) -> Verdict:
    """The verdict of a reading's failed checks (none: good)."""
    found = tuple(findings)
    if not found:
        return Verdict(revised=revised, gap=gap, late=late)
    worst = max(f.flag for f in found)
    first = next(f for f in found if f.flag == worst)
    detail = "; ".join(f"{f.check}: {f.detail}" for f in found)
    return Verdict(worst, first.check, detail, found, revised, gap, late)


@dataclass
class _Point:
    ts: datetime
    value: float


@dataclass
class _Run:
    """Readings in a row within the flat-line tolerance of ``value``."""

    value: float
    start: datetime
    count: int = 1
    reported: bool = False


@dataclass
class _Sensor:
    checks: QuantityChecks
    interval_s: float | None
    last_ts: datetime | None = None
    ref: _Point | None = None  # the last trusted reading: rate of change and spikes are judged against it
    rate_failed: _Point | None = None  # the last reading that failed the rate check (a real step re-anchors)
    pending: _Point | None = None  # the newest reading, waiting for its next neighbour to be judged a spike
    pending_before: _Point | None = None  # its previous neighbour (the trusted reading before it)
    run: _Run | None = None
    recent: deque[tuple[datetime, float, Verdict]] = field(default_factory=lambda: deque(maxlen=RECENT))

    def max_step_s(self) -> float | None:
        """The longest span between neighbours a spike is judged across (beyond it they are not neighbours)."""
        if self.interval_s is None:
            return None
        factor = self.checks.gap.factor if self.checks.gap is not None else 2.5
        return self.interval_s * factor


class HasSensors(Protocol):
    """A registry entry (hub.store.state.NodeInfo): node id and (sensor_id, quantity, interval_s) per sensor."""

    node_id: str
    sensors: tuple[tuple[str, str, float], ...]


def intervals_from_nodes(nodes: Iterable[HasSensors]) -> dict[tuple[str, str], float]:
    return {(n.node_id, sid): float(interval) for n in nodes for sid, _q, interval in n.sensors}


class QualityChecker:
    """Runs the configured checks on each sensor's readings. Not thread-safe: one caller (the ingest thread)."""

    def __init__(
        self,
        config: QualityConfig | None = None,
        intervals: Mapping[tuple[str, str], float] | None = None,
        max_sensors: int = DEFAULT_MAX_SENSORS,
    ) -> None:
        self.config = config if config is not None else QualityConfig()
        self._intervals = dict(intervals or {})
        self._sensors: OrderedDict[tuple[str, str, Quantity], _Sensor] = OrderedDict()
        self._max_sensors = max_sensors

    def set_interval(self, node_id: str, sensor_id: str, interval_s: float) -> None:
        self._intervals[(node_id, sensor_id)] = interval_s
        for (node, sensor, _q), state in self._sensors.items():
            if (node, sensor) == (node_id, sensor_id):
                state.interval_s = interval_s

    def forget(self, node_id: str) -> None:
        for key in [k for k in self._sensors if k[0] == node_id]:
            del self._sensors[key]

    def __len__(self) -> int:
        return len(self._sensors)

    def _state(self, node_id: str, sensor_id: str, quantity: Quantity) -> _Sensor:
        key = (node_id, sensor_id, quantity)
        state = self._sensors.get(key)
        if state is None:
            checks_ = self.config.checks_for(quantity, node_id, sensor_id)
            state = _Sensor(checks_, self._intervals.get((node_id, sensor_id)))
            self._sensors[key] = state
            while len(self._sensors) > self._max_sensors:
                self._sensors.popitem(last=False)  # the sensor heard from least recently starts afresh
        else:
            self._sensors.move_to_end(key)
        return state

    def check(self, node_id: str, sensor_id: str, quantity: Quantity | str, ts: datetime, value: float) -> Verdict:
        """Judge one reading (``ts`` timezone-aware, ``value`` in the quantity's canonical unit)."""
        require_aware(ts)
        state = self._state(node_id, sensor_id, Quantity(quantity))
        if state.last_ts is not None and ts <= state.last_ts:
            return _out_of_order(state, ts, value)
        verdict = _in_order(state, ts, value)
        _remember(state, ts, value, verdict)
        return verdict


def _value_findings(c: QuantityChecks, value: float, span_s: float) -> list[Finding]:
    found = [checks.not_finite(value)]
    if not found[0]:
        found += [checks.hard_limit(value, c.hard_limits), checks.soft_limit(value, c.soft_limits)]
        found.append(checks.intensity(value, span_s, c.intensity))
    return [f for f in found if f is not None]


def _is_bad_value(found: list[Finding]) -> bool:
    return any(f.check == CheckName.HARD_LIMIT and f.flag == Flag.BAD for f in found)


def _in_order(state: _Sensor, ts: datetime, value: float) -> Verdict:
    c = state.checks
    span_s = (ts - state.last_ts).total_seconds() if state.last_ts is not None else (state.interval_s or 0.0)
    found = _value_findings(c, value, span_s)
    gap = checks.gap(state.last_ts, ts, state.interval_s, c.gap) if state.last_ts is not None else None
    state.last_ts = ts
    if _is_bad_value(found):
        return verdict_of(found, gap=gap)  # a broken value is nobody's neighbour or reference
    revised: list[Revision] = []
    point = _Point(ts, value)
    spike = _judge_pending(state, point)
    if spike is not None:
        revised.append(spike)
    before = state.ref
    rate = _rate(state, point)
    if rate is not None:
        found.append(rate)
    found_flat, flat_revision = _flat(state, point)
    if found_flat is not None:
        found.append(found_flat)
        state.ref = state.rate_failed = None  # a frozen value is no reference: the first live one after it is not
    if flat_revision is not None:
        revised.append(flat_revision)
    state.pending, state.pending_before = point, before
    return verdict_of(found, revised=tuple(revised), gap=gap)


def _judge_pending(state: _Sensor, after: _Point) -> Revision | None:
    """Is the previous reading a spike, now that its next neighbour ``after`` is here? Undo it as a reference."""
    pending, before = state.pending, state.pending_before
    if pending is None or before is None:
        return None
    step = state.max_step_s()
    if (
        step is not None
        and max((pending.ts - before.ts).total_seconds(), (after.ts - pending.ts).total_seconds()) > step
    ):
        return None  # a neighbour across a gap says nothing about this reading
    found = checks.spike(before.value, pending.value, after.value, state.checks.spike)
    if found is None:
        return None
    if state.ref is pending:
        state.ref = before
    if state.rate_failed is pending:
        state.rate_failed = None
    _revise_recent(state, pending.ts, pending.ts, found)
    return Revision(pending.ts, pending.ts, found.flag, found.check, found.detail)


def _rate(state: _Sensor, point: _Point) -> Finding | None:
    """Rate against the last trusted reading; two failing readings that agree with each other are a real step."""
    ref, cfg = state.ref, state.checks.rate_of_change
    found = None if ref is None else checks.rate_of_change(ref.ts, ref.value, point.ts, point.value, cfg)
    if found is None:
        state.ref, state.rate_failed = point, None
        return None
    failed = state.rate_failed
    if failed is not None and checks.rate_of_change(failed.ts, failed.value, point.ts, point.value, cfg) is None:
        state.ref, state.rate_failed = point, None  # the level really moved: follow it
        return None
    state.rate_failed = point
    return found


def _flat(state: _Sensor, point: _Point) -> tuple[Finding | None, Revision | None]:
    cfg = state.checks.flat_line
    run = state.run
    tolerance = cfg.tolerance if cfg is not None else 0.0
    if run is None or abs(point.value - run.value) > tolerance:
        state.run = _Run(point.value, point.ts)
        return None, None
    run.count += 1
    found = checks.flat_line(run.value, run.start, run.count, point.ts, cfg)
    if found is None or run.reported:
        return found, None
    run.reported = True  # the readings of the run before this one are revised once, here
    _revise_recent(state, run.start, point.ts, found)
    return found, Revision(run.start, point.ts, found.flag, found.check, found.detail)


def _revise_recent(state: _Sensor, start: datetime, end: datetime, found: Finding) -> None:
    """Remembered verdicts follow a revision, so a repeat of a revised reading is answered as revised."""
    for i, (ts, value, verdict) in enumerate(state.recent):
        if start <= ts <= end and found.flag > verdict.flag:
            findings = (*verdict.findings, found)
            state.recent[i] = (ts, value, replace(verdict_of(findings), late=verdict.late))


def _remember(state: _Sensor, ts: datetime, value: float, verdict: Verdict) -> None:
    state.recent.append((ts, value, replace(verdict, revised=(), gap=None)))


def _out_of_order(state: _Sensor, ts: datetime, value: float) -> Verdict:
    """A repeat, a second value for an instant, or a reading older than the newest one."""
    earlier: tuple[datetime, float, Verdict] | None = None
    for seen_ts, seen_value, verdict in state.recent:
        if seen_ts == ts:
            if seen_value == value:
                return verdict  # the same reading again: the same verdict, as revised since
            return verdict_of(
                [Finding(Flag.SUSPECT, CheckName.DUPLICATE, f"{value:g}, but {seen_value:g} came for the same time")]
            )
        if seen_ts < ts and verdict.flag != Flag.BAD:
            earlier = (seen_ts, seen_value, verdict)
    span_s = (ts - earlier[0]).total_seconds() if earlier is not None else (state.interval_s or 0.0)
    found = _value_findings(state.checks, value, span_s)
    if earlier is not None and not _is_bad_value(found):
        rate = checks.rate_of_change(earlier[0], earlier[1], ts, value, state.checks.rate_of_change)
        if rate is not None:
            found.append(rate)
    return verdict_of(found, late=True)
