"""Readings the hub's quality control flagged, remembered so that an alarm's details can say one was involved.

A flagged reading never raises, updates or clears an alarm (the engine skips it); but an officer reading an alarm
that a trusted reading raised a few minutes after a suspect one should know the sensor had a doubtful moment.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from hub.alerts.evaluate.base import Finding, Observation

WINDOW = timedelta(hours=6)  # flagged readings this much older than the trusted one are no longer mentioned
PER_SENSOR = 8
MAX_SENSORS = 20_000


class FlaggedReadings:
    """The last few flagged readings of each sensor. In memory: after a restart, details mention only new ones."""

    def __init__(self) -> None:
        self._by_sensor: OrderedDict[tuple[str, str], deque[Observation]] = OrderedDict()

    def note(self, obs: Observation) -> None:
        key = (obs.node_id, obs.sensor_id)
        seen = self._by_sensor.get(key)
        if seen is None:
            seen = self._by_sensor[key] = deque(maxlen=PER_SENSOR)
            while len(self._by_sensor) > MAX_SENSORS:
                self._by_sensor.popitem(last=False)
        else:
            self._by_sensor.move_to_end(key)
        seen.append(obs)

    def recent(self, obs: Observation) -> list[Observation]:
        """The sensor's flagged readings within ``WINDOW`` before ``obs`` (a trusted reading)."""
        seen = self._by_sensor.get((obs.node_id, obs.sensor_id), ())
        return [f for f in seen if obs.ts - WINDOW <= f.ts <= obs.ts]

    def annotate(self, obs: Observation, findings: list[Finding], first: int) -> None:
        """Add ``quality`` to the details of the findings ``obs`` gave (``findings[first:]``), if any reading of
        its sensor was flagged lately."""
        flagged = self.recent(obs)
        if not flagged:
            return
        note = describe(flagged)
        for i in range(first, len(findings)):
            f = findings[i]
            details = {**f.condition.details, "quality": note}
            findings[i] = replace(f, condition=f.condition.model_copy(update={"details": details}))


def describe(flagged: Sequence[Observation]) -> dict[str, object]:
    last = flagged[-1]
    return {
        "flagged_readings": len(flagged),
        "window_h": WINDOW / timedelta(hours=1),
        "last_flagged": {"ts": last.ts.isoformat(), "value": last.value, "flag": last.flag, "check": last.check},
        "note": (
            f"{len(flagged)} reading(s) of this sensor flagged by quality control in the last "
            f"{WINDOW / timedelta(hours=1):g} h (latest: {last.flag}, {last.check or 'node flag'}); "
            "they did not move this alarm"
        ),
    }
