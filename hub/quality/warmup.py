"""Warming a fresh ``QualityChecker`` up from the readings stored in InfluxDB (a new cluster leader).

In cluster mode only the alert leader runs quality control, and a new leader's checker starts empty: without this,
the first reading of each sensor after a takeover would be judged on its value alone (no rate of change, no spike
judgement of the reading that was pending, flat runs restarted, no gap). ``warm_up`` feeds each sensor's most
recent stored readings through ``check_ms``, oldest first, and drops the verdicts, so the checker's state is what
the previous leader's was and the next readings are judged as it would have judged them (docs/quality.md,
"After a leader change").

How many readings per sensor (``readings_needed``): the last 16 with their verdicts (``RECENT``: repeats are
recognised by them), which also hold the pending spike candidate, its previous neighbour and the last trusted
reading; and a flat-line run back to its start: ``flat_line.duration_s`` / the sensor's interval + 2 readings
(the run's readings over the duration, and the one before it, which fixes where it started), capped at
``MAX_PER_SENSOR``. Beyond what is fed the state is approximate: a run longer than the window starts at the
window's first reading (it is found, and the next readings flagged, as before, but the detail counts the
readings since then); a run longer than the cap, or a sensor sampling faster than its interval (in alarm), may
not be found until later; a sensor whose readings failed every check for longer than the window has the window's
oldest reading as its reference; readings that arrived out of order are fed in time order.

Readings newer than what the previous leader evaluated may already be stored (ingest hubs store them before the
leader's feed gets them). By default they are fed too, and when the feed brings them again each is an exact repeat
of a remembered reading, which gets the verdict that reading has now (as revised since) and changes no state. What
a repeat does not carry again is what its first pass carried beside its own flag: revisions of earlier readings (a
spike judged, a flat run's start: their stored flags stay as the previous leader left them), the gap it ended and
``provisional`` (a reading the previous leader held back as a possible spike is released with the repeat's verdict,
so as good); and only the last 16 are remembered, so with a longer backlog the older ones come back as late
readings, judged on their limits only. ``only_evaluated=True`` avoids all three: each sensor is fed its newest
readings with a stored flag (``quality``, written by a leader once their batch is committed), and the readings
without one are left to the feed, which judges them in order as the previous leader would have. It needs the
previous leaders' committed flags in InfluxDB first (``pending_lines``): a reading evaluated but not yet flagged
in storage would be missing from the state.

One InfluxQL query per quantity, ``GROUP BY "node_id", "sensor_id" ORDER BY time DESC LIMIT n`` (n per group,
tested on InfluxDB 1.6). InfluxDB trouble never raises: a new leader must lead whatever storage does, so what
could be fed is fed and the rest of the sensors start empty, as before.
"""

from __future__ import annotations

import http.client
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.quality.checker import RECENT, QualityChecker
from hub.quality.completeness_job import Queries
from hub.quality.config import QuantityChecks
from wire.quantities import Quantity

log = logging.getLogger(__name__)

# The repeat window (its readings hold the pending spike candidate, its neighbour and the last trusted reading).
MIN_PER_SENSOR = RECENT + 2
# A bound on one takeover's queries: 6 h of flat line at one reading a minute (a reservoir's 48 h at 15 minutes
# is 194). Sensors x this many rows per quantity come back in one response.
MAX_PER_SENSOR = 400

Sensor = tuple[str, str, str]  # (node_id, sensor_id, quantity)


@dataclass(frozen=True)
class WarmUpResult:
    sensors: int = 0  # sensors fed at least one stored reading
    readings: int = 0  # readings fed
    elapsed_s: float = 0.0
    errors: tuple[str, ...] = ()  # what InfluxDB answered instead (those sensors start empty)


def readings_needed(checks: QuantityChecks, interval_s: float | None, cap: int = MAX_PER_SENSOR) -> int:
    """Stored readings that rebuild one sensor's state exactly (module docstring), at most ``cap``."""
    need = MIN_PER_SENSOR
    flat = checks.flat_line
    if flat is not None and flat.enabled:
        need = max(need, flat.min_readings + 1)
        if interval_s is not None and interval_s > 0:
            # A run found at the duration spans duration / interval + 1 readings; one more shows where it began.
            need = max(need, math.ceil(flat.duration_s / interval_s) + 2)
    return min(need, max(cap, MIN_PER_SENSOR))


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def latest_query(
    quantity: str, per_sensor: int, retention_policy: str | None = None, only_evaluated: bool = False
) -> str:
    """The newest ``per_sensor`` values of every sensor of one quantity (with a stored flag: ``only_evaluated``),
    newest first per sensor."""
    rp = f"{_quote(retention_policy)}." if retention_policy else ""
    where = "WHERE \"quality\" != '' " if only_evaluated else ""
    # Grouped by node and sensor only: a node whose admin_code changed has two series, merged here in time order.
    return (
        f'SELECT "value" FROM {rp}{_quote(quantity)} {where}'
        f'GROUP BY "node_id", "sensor_id" ORDER BY time DESC LIMIT {int(per_sensor)}'
    )


def warm_up(
    checker: QualityChecker,
    reader: Queries,
    sensors: Iterable[Sensor],
    *,
    intervals: Mapping[tuple[str, str], float] | None = None,
    per_sensor: int | None = None,
    retention_policy: str | None = None,
    only_evaluated: bool = False,
) -> WarmUpResult:
    """Feed each sensor's latest stored readings to ``checker`` (a fresh one), oldest first, verdicts dropped.

    ``sensors``: (node_id, sensor_id, quantity) of the registry; ``intervals``: (node_id, sensor_id) -> interval_s
    (``intervals_from_nodes``), for how many readings a flat run needs; ``per_sensor``: that many for every sensor
    instead of ``readings_needed``; ``only_evaluated``: up to each sensor's newest flagged reading (module
    docstring). Blocking (one query per quantity); never raises for InfluxDB trouble.
    """
    started = time.monotonic()
    intervals = intervals or {}
    wanted: dict[str, dict[tuple[str, str], int]] = {}
    for node_id, sensor_id, quantity in sensors:
        try:
            q = Quantity(quantity)
        except ValueError:
            continue  # the checker could not judge it either
        n = per_sensor or readings_needed(
            checker.config.checks_for(q, node_id, sensor_id), intervals.get((node_id, sensor_id))
        )
        wanted.setdefault(q.value, {})[(node_id, sensor_id)] = n
    fed_sensors = fed = 0
    errors: list[str] = []
    for quantity, of_quantity in sorted(wanted.items()):
        try:
            rows = reader.query(latest_query(quantity, max(of_quantity.values()), retention_policy, only_evaluated))
        except (OSError, http.client.HTTPException) as e:
            # Unreachable: each further query would wait as long again for nothing.
            errors.append(f"{quantity}: {e!r}")
            log.warning("quality warm-up: InfluxDB unreachable (%r): %s and later quantities start empty", e, quantity)
            break
        except Exception as e:  # a refused query (a missing retention policy ...): the other quantities may work
            errors.append(f"{quantity}: {e!r}")
            log.warning("quality warm-up: %s not read (%r): its sensors start empty", quantity, e)
            continue
        s, r = _feed(checker, quantity, of_quantity, rows)
        fed_sensors, fed = fed_sensors + s, fed + r
    result = WarmUpResult(fed_sensors, fed, time.monotonic() - started, tuple(errors))
    log.info(
        "quality warm-up: %d reading(s) of %d sensor(s) in %.2f s%s",
        result.readings,
        result.sensors,
        result.elapsed_s,
        f" ({len(errors)} error(s))" if errors else "",
    )
    return result


def _feed(
    checker: QualityChecker, quantity: str, wanted: dict[tuple[str, str], int], rows: list[dict[str, Any]]
) -> tuple[int, int]:
    """Feed the rows (newest first per sensor) to the checker oldest first; (sensors, readings) fed."""
    per: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row in rows:
        key = (row.get("node_id") or "", row.get("sensor_id") or "")
        n = wanted.get(key)
        value, ts = row.get("value"), row.get("time")
        if n is None or value is None or ts is None:
            continue  # not a registered sensor of this quantity
        got = per.setdefault(key, [])
        if len(got) < n:  # the query's limit is the quantity's largest
            try:
                got.append((int(ts), float(value)))
            except (TypeError, ValueError):
                continue
    fed = 0
    for (node_id, sensor_id), readings in per.items():
        for ts_ms, value in reversed(readings):
            checker.check_ms(node_id, sensor_id, quantity, ts_ms, value)
        fed += len(readings)
    return sum(1 for r in per.values() if r), fed
