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

Time is kept as integer microseconds since the epoch inside, so differences are exact and equal to the datetimes'
``total_seconds()``; a reading's own datetime is kept (or made, in UTC, for ``check_epoch``) only where a verdict
names it. A good reading of a known sensor takes a fast path that allocates one small point and shares the
``GOOD`` verdict; anything else (a failed check, a gap, a spike judged, a revision) goes through the full path, which
gives the same verdicts as before the fast path existed (tests/hub/quality/test_checker.py checks both agree).
"""

from __future__ import annotations

import sys
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from hub.alerts.rules.base import require_aware
from hub.quality import checks
from hub.quality.config import QualityConfig, QuantityChecks
from hub.quality.flags import CheckName, Finding, Flag, Gap
from wire.quantities import Quantity

RECENT = 16  # readings remembered per sensor, to recognise repeats and place late readings
DEFAULT_MAX_SENSORS = 20_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_US_PER_S = 1_000_000
_FAR = sys.float_info.max  # a bound no finite value passes beyond, so infinity (and NaN) leave the fast path


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
    less (limits, and rate against the reading before it). ``provisional`` marks a good reading that stands more
    than the spike threshold away from the trusted reading before it: the next reading may still revise it as a
    spike, so whatever acts on single readings (the alert engine) waits for that one (docs/quality.md). Immutable:
    a good reading gets the shared ``GOOD`` (or ``GOOD_PROVISIONAL``).
    """

    flag: Flag = Flag.GOOD
    check: CheckName | None = None
    detail: str = ""
    findings: tuple[Finding, ...] = ()
    revised: tuple[Revision, ...] = ()
    gap: Gap | None = None
    late: bool = False
    provisional: bool = False


GOOD = Verdict()
GOOD_PROVISIONAL = Verdict(provisional=True)
_GOOD_LATE = Verdict(late=True)


def verdict_of(
    findings: Iterable[Finding], revised: tuple[Revision, ...] = (), gap: Gap | None = None, late: bool = False
) -> Verdict:
    """The verdict of a reading's failed checks (none: good)."""
    found = tuple(findings)
    if not found:
        if not revised and gap is None:
            return _GOOD_LATE if late else GOOD
        return Verdict(revised=revised, gap=gap, late=late)
    worst = max(f.flag for f in found)
    first = next(f for f in found if f.flag == worst)
    detail = "; ".join(f"{f.check}: {f.detail}" for f in found)
    return Verdict(worst, first.check, detail, found, revised, gap, late)


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


# A reading: (microseconds since the epoch, value, the datetime it came with or None from an epoch). A plain tuple:
# one is made per reading, and the state tells readings apart by identity (``state.ref is pending``).
_Point = tuple[int, float, datetime | None]


def _ts(point: _Point) -> datetime:
    return point[2] if point[2] is not None else _utc(point[0])


class _Sensor:
    """One sensor's state, and its checks' settings worked out once for the fast path."""

    __slots__ = (
        "allowance", "checks", "fall", "flat", "gap_limit_s", "hi", "intensity", "interval_s", "last", "lo",
        "max_per_h", "max_step_s", "min_span_s", "pending", "pending_before", "rate", "rate_failed", "recent",
        "ref", "rise", "run_count", "run_reported", "run_start", "run_value", "spike", "tolerance",
    )  # fmt: skip

    def __init__(self, c: QuantityChecks, interval_s: float | None) -> None:
        self.checks = c
        self.last: _Point | None = None  # the newest reading
        self.ref: _Point | None = None  # the last trusted reading: rate of change and spikes are judged against it
        self.rate_failed: _Point | None = None  # the last reading that failed the rate check (a real step re-anchors)
        self.pending: _Point | None = None  # the newest reading, waiting for its next neighbour (spike or not)
        self.pending_before: _Point | None = None  # its previous neighbour (the trusted reading before it)
        # The run: readings in a row within the flat-line tolerance of ``run_value`` (none before the first).
        self.run_start: _Point | None = None
        self.run_value = 0.0
        self.run_count = 0
        self.run_reported = False
        self.recent: deque[tuple[int, float, Verdict]] = deque(maxlen=RECENT)
        hard = c.hard_limits if c.hard_limits is not None and c.hard_limits.enabled else None
        soft = c.soft_limits if c.soft_limits is not None and c.soft_limits.enabled else None
        lows = [x.min for x in (hard, soft) if x is not None and x.min is not None]
        highs = [x.max for x in (hard, soft) if x is not None and x.max is not None]
        self.lo, self.hi = max(lows, default=-_FAR), min(highs, default=_FAR)  # inside both: passes both
        self.intensity = c.intensity if c.intensity is not None and c.intensity.enabled else None
        self.rate = c.rate_of_change if c.rate_of_change is not None and c.rate_of_change.enabled else None
        self.spike = c.spike.threshold if c.spike is not None and c.spike.enabled else None
        self.flat = c.flat_line if c.flat_line is not None and c.flat_line.enabled else None
        self.tolerance = c.flat_line.tolerance if c.flat_line is not None else 0.0
        # The same settings as plain attributes: the fast path reads them for every reading.
        rate, intensity = self.rate, self.intensity
        self.rise = None if rate is None else rate.max_rise_per_h
        self.fall = None if rate is None else rate.max_fall_per_h
        self.allowance = 0.0 if rate is None else rate.allowance
        self.min_span_s = 0.0 if intensity is None else intensity.min_span_s
        self.max_per_h = _FAR if intensity is None else intensity.max_per_h
        self.set_interval(interval_s)

    def set_interval(self, interval_s: float | None) -> None:
        self.interval_s = interval_s
        gap = self.checks.gap
        # The longest span between neighbours a spike is judged across (beyond it they are not neighbours).
        self.max_step_s = _FAR if interval_s is None else interval_s * (gap.factor if gap is not None else 2.5)
        # The longest silence that is not a gap event (checks.gap); _FAR: no gap events.
        on = gap is not None and gap.enabled and interval_s is not None and interval_s > 0
        self.gap_limit_s = interval_s * gap.factor if on and gap is not None and interval_s is not None else _FAR

    def new_run(self, point: _Point) -> None:
        self.run_start, self.run_value, self.run_count, self.run_reported = point, point[1], 1, False


class HasSensors(Protocol):
    """A registry entry (hub.store.state.NodeInfo): node id and (sensor_id, quantity, interval_s) per sensor."""

    @property
    def node_id(self) -> str: ...

    @property
    def sensors(self) -> tuple[tuple[str, str, float], ...]: ...


def intervals_from_nodes(nodes: Iterable[HasSensors]) -> dict[tuple[str, str], float]:
    return {(n.node_id, sid): float(interval) for n in nodes for sid, _q, interval in n.sensors}


class QualityChecker:
    """Runs the configured checks on each sensor's readings. Not thread-safe: one caller (the ingest thread).

    ``fast_path=False`` sends every reading through the full path (the tests compare the two verdict by verdict).
    """

    def __init__(
        self,
        config: QualityConfig | None = None,
        intervals: Mapping[tuple[str, str], float] | None = None,
        max_sensors: int = DEFAULT_MAX_SENSORS,
        *,
        fast_path: bool = True,
    ) -> None:
        self.config = config if config is not None else QualityConfig()
        self._intervals = dict(intervals or {})
        # Keyed by (node_id, sensor_id, Quantity); a quantity given as its string finds the same entry (a StrEnum
        # member hashes and compares as its value), so no conversion per reading.
        self._sensors: OrderedDict[tuple[str, str, Quantity | str], _Sensor] = OrderedDict()
        self._max_sensors = max_sensors
        self._fast_path = fast_path

    def set_interval(self, node_id: str, sensor_id: str, interval_s: float) -> None:
        self._intervals[(node_id, sensor_id)] = interval_s
        for (node, sensor, _q), state in self._sensors.items():
            if (node, sensor) == (node_id, sensor_id):
                state.set_interval(interval_s)

    def forget(self, node_id: str) -> None:
        for key in [k for k in self._sensors if k[0] == node_id]:
            del self._sensors[key]

    def __len__(self) -> int:
        return len(self._sensors)

    def _new_state(self, node_id: str, sensor_id: str, quantity: Quantity | str) -> _Sensor:
        q = Quantity(quantity)
        state = _Sensor(self.config.checks_for(q, node_id, sensor_id), self._intervals.get((node_id, sensor_id)))
        self._sensors[(node_id, sensor_id, q)] = state
        while len(self._sensors) > self._max_sensors:
            self._sensors.popitem(last=False)  # the sensor heard from least recently starts afresh
        return state

    def check(self, node_id: str, sensor_id: str, quantity: Quantity | str, ts: datetime, value: float) -> Verdict:
        """Judge one reading (``ts`` timezone-aware, ``value`` in the quantity's canonical unit)."""
        try:
            us = (ts - _EPOCH) // _ONE_US
        except TypeError:
            require_aware(ts)  # naive: ValueError saying so
            raise
        return self._check_us(node_id, sensor_id, quantity, us, value, ts)

    def check_epoch(self, node_id: str, sensor_id: str, quantity: Quantity | str, ts_s: float, value: float) -> Verdict:
        """``check`` with the time as seconds since the epoch (UTC, to the microsecond), as the ingest has it.

        The verdicts are those ``check`` gives for the same instant as a UTC datetime; the datetimes in them
        (revisions, gaps) are UTC.
        """
        return self._check_us(node_id, sensor_id, quantity, round(ts_s * _US_PER_S), value, None)

    def check_ms(self, node_id: str, sensor_id: str, quantity: Quantity | str, ts_ms: int, value: float) -> Verdict:
        """``check`` with the time as integer milliseconds since the epoch (exact), as the ingest has it."""
        return self._check_us(node_id, sensor_id, quantity, ts_ms * 1000, value, None)

    def _check_us(
        self, node_id: str, sensor_id: str, quantity: Quantity | str, us: int, value: float, ts: datetime | None
    ) -> Verdict:
        key = (node_id, sensor_id, quantity)
        state = self._sensors.get(key)
        if state is None:
            state = self._new_state(node_id, sensor_id, quantity)
        else:
            self._sensors.move_to_end(key)
        if self._fast_path:
            fast = _fast_good(state, us, value, ts)
            if fast is not None:
                return fast
        return _judge(state, (us, value, ts))

    def spike_window_s(self, node_id: str, sensor_id: str, quantity: Quantity | str) -> float | None:
        """How long after a provisional reading its next neighbour can still make it a spike (None: no limit
        known, the sensor's interval is not)."""
        state = self._sensors.get((node_id, sensor_id, quantity))
        if state is None or state.max_step_s >= _FAR:
            return None
        return state.max_step_s


def _judge(state: _Sensor, point: _Point) -> Verdict:
    """The full path: any reading, in order or not."""
    last = state.last
    if last is not None and point[0] <= last[0]:
        return _out_of_order(state, point)
    verdict = _in_order(state, point)
    state.recent.append((point[0], point[1], verdict if verdict is GOOD else replace(verdict, revised=(), gap=None)))
    if verdict.flag is Flag.GOOD and state.pending is point and _may_be_spike(state, point[0], point[1]):
        return GOOD_PROVISIONAL if verdict is GOOD else replace(verdict, provisional=True)
    return verdict


def _may_be_spike(state: _Sensor, us: int, value: float) -> bool:
    """Could the next reading make the pending reading (``us``, ``value``) a spike? Only if it stands more than
    the threshold from its previous neighbour (however long ago: ``_judge_pending``)."""
    before = state.pending_before
    return state.spike is not None and before is not None and abs(value - before[1]) > state.spike


def _fast_good(state: _Sensor, us: int, value: float, dt: datetime | None) -> Verdict | None:
    """The common case, a new reading that passes every check: take it (as ``_in_order`` would) and give its
    verdict (``GOOD``, or ``GOOD_PROVISIONAL`` while a spike is still possible).

    Anything else (the first reading, a repeat or late one, a failed check, a gap, a spike to report, a step
    followed) gives None before changing any state, and the full path judges the reading. The checks are the full
    path's, written out here on plain attributes (this runs for every reading the hub ingests): the limits, the
    gap, intensity, the spike judgement of the pending reading (``_judge_pending``), the rate against the last
    trusted reading (``_rate_ok_from``, the same arithmetic), the flat line (``_flat``) and ``_may_be_spike``.
    """
    last = state.last
    if last is None or us <= last[0] or not state.lo <= value <= state.hi:
        return None
    span_s = (us - last[0]) / _US_PER_S
    if span_s > state.gap_limit_s:
        return None
    if state.intensity is not None and value / (max(span_s, state.min_span_s) / 3600.0) > state.max_per_h:
        return None
    threshold, pending, before, ref = state.spike, state.pending, state.pending_before, state.ref
    if threshold is not None and pending is not None and before is not None:
        up, down = pending[1] - before[1], pending[1] - value
        if up * down > 0 and min(abs(up), abs(down)) > threshold and (us - pending[0]) / _US_PER_S <= state.max_step_s:
            return None
    if ref is not None and state.rate is not None:
        change = value - ref[1]  # the reference is older than the newest reading: the hours are > 0
        limit = state.rise if change > 0 else state.fall
        if limit is not None and abs(change) > limit * ((us - ref[0]) / _US_PER_S / 3600.0) + state.allowance:
            return None
    point = (us, value, dt)
    run = state.run_start
    if run is not None and abs(value - state.run_value) <= state.tolerance:
        if state.flat is not None and _flat_found(state, run, us):
            return None
        state.run_count += 1
    else:
        state.run_start, state.run_value, state.run_count, state.run_reported = point, value, 1, False
    state.last = state.pending = state.ref = point
    state.pending_before, state.rate_failed = ref, None
    state.recent.append((us, value, GOOD))
    if threshold is not None and ref is not None and abs(value - ref[1]) > threshold:
        return GOOD_PROVISIONAL  # _may_be_spike: ``ref`` is now the pending reading's previous neighbour
    return GOOD


def _rate_ok(state: _Sensor, us: int, value: float) -> bool:
    """Does the reading pass the rate check against the last trusted one (checks.rate_of_change)?"""
    return state.ref is None or _rate_ok_from(state, state.ref, (us, value, None))


def _rate_ok_from(state: _Sensor, ref: _Point, point: _Point) -> bool:
    """Does ``point`` pass the rate check against ``ref``?"""
    cfg, us, value = state.rate, point[0], point[1]
    if cfg is None:
        return True
    hours = (us - ref[0]) / _US_PER_S / 3600.0
    if hours <= 0:
        return True
    change = value - ref[1]
    limit = cfg.max_rise_per_h if change > 0 else cfg.max_fall_per_h
    return limit is None or abs(change) <= limit * hours + cfg.allowance


def _flat_found(state: _Sensor, run: _Point, us: int) -> bool:
    """Would the run, one reading longer, be a flat line (checks.flat_line)?"""
    cfg = state.flat
    if cfg is None or any(abs(state.run_value - normal) <= cfg.tolerance for normal in cfg.normal_values):
        return False
    return not (state.run_count + 1 < cfg.min_readings or (us - run[0]) / _US_PER_S < cfg.duration_s)


def _value_findings(c: QuantityChecks, value: float, span_s: float) -> list[Finding]:
    found = [checks.not_finite(value)]
    if not found[0]:
        found += [checks.hard_limit(value, c.hard_limits), checks.soft_limit(value, c.soft_limits)]
        found.append(checks.intensity(value, span_s, c.intensity))
    return [f for f in found if f is not None]


def _is_bad_value(found: list[Finding]) -> bool:
    return any(f.check == CheckName.HARD_LIMIT and f.flag == Flag.BAD for f in found)


def _in_order(state: _Sensor, point: _Point) -> Verdict:
    c, last = state.checks, state.last
    span_s = (point[0] - last[0]) / _US_PER_S if last is not None else (state.interval_s or 0.0)
    found = _value_findings(c, point[1], span_s)
    gap = None
    if last is not None and span_s > state.gap_limit_s:
        gap = checks.gap(_ts(last), _ts(point), state.interval_s, c.gap)
    state.last = point
    if _is_bad_value(found):
        return verdict_of(found, gap=gap)  # a broken value is nobody's neighbour or reference
    revised: list[Revision] = []
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
    # The next neighbour must be close: a reading long after says nothing about this one. The previous one may be
    # across a gap: a value that leaves it by more than the threshold and comes straight back is still a spike,
    # the commonest garbage after a logger's restart (a rise during the gap is followed, not sent back).
    if (after[0] - pending[0]) / _US_PER_S > state.max_step_s:
        return None
    found = checks.spike(before[1], pending[1], after[1], state.checks.spike)
    if found is None:
        return None
    if state.ref is pending:
        state.ref = before
    if state.rate_failed is pending:
        state.rate_failed = None
    _revise_recent(state, pending[0], pending[0], found)
    ts = _ts(pending)
    return Revision(ts, ts, found.flag, found.check, found.detail)


def _rate(state: _Sensor, point: _Point) -> Finding | None:
    """Rate against the last trusted reading; two failing readings that agree with each other are a real step."""
    if _rate_ok(state, point[0], point[1]):
        state.ref, state.rate_failed = point, None
        return None
    ref, cfg = state.ref, state.checks.rate_of_change
    found = None if ref is None else checks.rate_of_change(_ts(ref), ref[1], _ts(point), point[1], cfg)
    failed = state.rate_failed
    if failed is not None and checks.rate_of_change(_ts(failed), failed[1], _ts(point), point[1], cfg) is None:
        state.ref, state.rate_failed = point, None  # the level really moved: follow it
        return None
    state.rate_failed = point
    return found


def _flat(state: _Sensor, point: _Point) -> tuple[Finding | None, Revision | None]:
    start = state.run_start
    if start is None or abs(point[1] - state.run_value) > state.tolerance:
        state.new_run(point)
        return None, None
    state.run_count += 1
    found = checks.flat_line(state.run_value, _ts(start), state.run_count, _ts(point), state.checks.flat_line)
    if found is None or state.run_reported:
        return found, None
    state.run_reported = True  # the readings of the run before this one are revised once, here
    _revise_recent(state, start[0], point[0], found)
    return found, Revision(_ts(start), _ts(point), found.flag, found.check, found.detail)


def _revise_recent(state: _Sensor, start_us: int, end_us: int, found: Finding) -> None:
    """Remembered verdicts follow a revision, so a repeat of a revised reading is answered as revised."""
    for i, (us, value, verdict) in enumerate(state.recent):
        if start_us <= us <= end_us and found.flag > verdict.flag:
            findings = (*verdict.findings, found)
            state.recent[i] = (us, value, replace(verdict_of(findings), late=verdict.late))


def _out_of_order(state: _Sensor, point: _Point) -> Verdict:
    """A repeat, a second value for an instant, or a reading older than the newest one."""
    us, value, _dt = point
    earlier: tuple[int, float] | None = None
    for seen_us, seen_value, verdict in state.recent:
        if seen_us == us:
            if seen_value == value:
                return verdict  # the same reading again: the same verdict, as revised since
            return verdict_of(
                [Finding(Flag.SUSPECT, CheckName.DUPLICATE, f"{value:g}, but {seen_value:g} came for the same time")]
            )
        if seen_us < us and verdict.flag != Flag.BAD:
            earlier = (seen_us, seen_value)
    span_s = (us - earlier[0]) / _US_PER_S if earlier is not None else (state.interval_s or 0.0)
    found = _value_findings(state.checks, value, span_s)
    if earlier is not None and not _is_bad_value(found):
        rate = checks.rate_of_change(_utc(earlier[0]), earlier[1], _ts(point), value, state.checks.rate_of_change)
        if rate is not None:
            found.append(rate)
    return verdict_of(found, late=True)
