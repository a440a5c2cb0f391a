"""Sensor faults injected into a simulated sample stream, so the hub's quality checks have something to catch.

Each fault is active over a window of scenario time [start_s, start_s + duration_s) (no duration: to the end).
Random choices (which reads spike or drop) are hashed from (seed, fault, instant), so they replay exactly.

A dropped read is reported as a failed read (the driver raises ``DriverError``), not as a sample without a
value: that is what a logger that does not answer looks like to the agent, which counts it as a read error and
sends nothing, leaving a gap the hub's freshness check must notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulators.sensors.rng import gauss, stable_seed, time_index, uniform
from wire.nodeconfig.simulated import (
    ClockSkewFault,
    DropoutFault,
    Fault,
    NoiseFault,
    SpikeFault,
    StuckFault,
)

# Faults act in this order: noise and spikes change the value, stuck then overrides it (a frozen sensor
# repeats exactly), dropout discards the read, clock skew only moves the timestamp.
_ORDER = {"noise": 0, "spike": 1, "stuck": 2, "dropout": 3, "clock_skew": 4}


@dataclass(frozen=True)
class FaultOutcome:
    """What reaches the agent: a value (None when the read failed) and a clock offset for its timestamp."""

    value: float | None
    skew_s: float = 0.0
    active: tuple[str, ...] = ()

    @property
    def dropped(self) -> bool:
        return self.value is None


class FaultInjector:
    """Applies one sensor's faults to its stream. Stateful only for ``stuck``, which needs the last reading."""

    def __init__(self, faults: Sequence[Fault], seed: int) -> None:
        indexed = sorted(enumerate(faults), key=lambda p: (_ORDER[p[1].kind], p[0]))
        self._faults = [(i, f, stable_seed(seed, "fault", i, f.kind)) for i, f in indexed]
        self._last: float | None = None
        self._frozen: dict[int, float] = {}

    def apply(self, t_s: float, value: float) -> FaultOutcome:
        idx = time_index(t_s)
        skew = 0.0
        active: list[str] = []
        for i, fault, key in self._faults:
            if not fault.active(t_s):
                self._frozen.pop(i, None)
                continue
            active.append(fault.kind)
            if isinstance(fault, NoiseFault):
                value += fault.sd * gauss(key, idx)
            elif isinstance(fault, SpikeFault):
                if uniform(key, idx) < fault.probability:
                    sign = {"up": 1.0, "down": -1.0}.get(fault.direction)
                    if sign is None:
                        sign = 1.0 if uniform(key ^ 1, idx) < 0.5 else -1.0
                    value += sign * fault.magnitude
            elif isinstance(fault, StuckFault):
                if i not in self._frozen:
                    self._frozen[i] = self._last if self._last is not None else value
                value = self._frozen[i]
            elif isinstance(fault, DropoutFault):
                if uniform(key, idx) < fault.probability:
                    return FaultOutcome(None, skew, tuple(active))
            elif isinstance(fault, ClockSkewFault):
                skew += fault.skew_s
        self._last = value
        return FaultOutcome(value, skew, tuple(active))
