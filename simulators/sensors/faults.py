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
from typing import Any, ClassVar

from plumbing.plugins import Registry
from simulators.sensors.rng import gauss, stable_seed, time_index, uniform
from wire.nodeconfig.simulated import (
    ClockSkewFault,
    DropoutFault,
    Fault,
    NoiseFault,
    SpikeFault,
    StuckFault,
)

# Fault kind -> (its spec class, declared in the contract: wire.nodeconfig.simulated.FAULT_KINDS; its effect below).
# Faults act in the order their effects are registered: noise and spikes change the value, stuck then overrides it
# (a frozen sensor repeats exactly), dropout discards the read, clock skew only moves the timestamp.
FAULTS: Registry[FaultEffect] = Registry("fault", docs="docs/simulator.md#faults")


@dataclass(frozen=True)
class FaultOutcome:
    """What reaches the agent: a value (None when the read failed) and a clock offset for its timestamp."""

    value: float | None
    skew_s: float = 0.0
    active: tuple[str, ...] = ()

    @property
    def dropped(self) -> bool:
        return self.value is None


@dataclass
class Read:
    """One read on its way through the active faults; each effect changes it in place."""

    value: float
    idx: int  # the instant's time index, which random draws are hashed with
    last: float | None  # the previous value that reached the agent (None before the first)
    skew_s: float = 0.0
    dropped: bool = False


class FaultEffect:
    """What one fault of a kind does to a read while its window is open. ``key`` seeds its random draws."""

    KEY: ClassVar[str]

    def __init__(self, spec: Any, key: int) -> None:
        self.spec = spec
        self.key = key

    def apply(self, read: Read) -> None:
        raise NotImplementedError

    def end(self) -> None:
        """Called for every read outside the fault's window; default: nothing to forget."""


@FAULTS.register("noise", NoiseFault)
class Noise(FaultEffect):
    spec: NoiseFault

    def apply(self, read: Read) -> None:
        read.value += self.spec.sd * gauss(self.key, read.idx)


@FAULTS.register("spike", SpikeFault)
class Spike(FaultEffect):
    spec: SpikeFault

    def apply(self, read: Read) -> None:
        if uniform(self.key, read.idx) < self.spec.probability:
            sign = {"up": 1.0, "down": -1.0}.get(self.spec.direction)
            if sign is None:
                sign = 1.0 if uniform(self.key ^ 1, read.idx) < 0.5 else -1.0
            read.value += sign * self.spec.magnitude


@FAULTS.register("stuck", StuckFault)
class Stuck(FaultEffect):
    """Freezes on the last value that reached the agent before the window (or the first read inside it)."""

    spec: StuckFault

    def __init__(self, spec: Any, key: int) -> None:
        super().__init__(spec, key)
        self._frozen: float | None = None

    def apply(self, read: Read) -> None:
        if self._frozen is None:
            self._frozen = read.last if read.last is not None else read.value
        read.value = self._frozen

    def end(self) -> None:
        self._frozen = None


@FAULTS.register("dropout", DropoutFault)
class Dropout(FaultEffect):
    spec: DropoutFault

    def apply(self, read: Read) -> None:
        if uniform(self.key, read.idx) < self.spec.probability:
            read.dropped = True


@FAULTS.register("clock_skew", ClockSkewFault)
class ClockSkew(FaultEffect):
    spec: ClockSkewFault

    def apply(self, read: Read) -> None:
        read.skew_s += self.spec.skew_s


class FaultInjector:
    """Applies one sensor's faults to its stream. Stateful only for ``stuck``, which needs the last reading."""

    def __init__(self, faults: Sequence[Fault], seed: int) -> None:
        order = {kind: n for n, kind in enumerate(FAULTS.in_order())}
        indexed = sorted(enumerate(faults), key=lambda p: (order[p[1].kind], p[0]))
        self._effects = [FAULTS.plugin(f.kind)(f, stable_seed(seed, "fault", i, f.kind)) for i, f in indexed]
        self._last: float | None = None

    def apply(self, t_s: float, value: float) -> FaultOutcome:
        read = Read(value, time_index(t_s), self._last)
        active: list[str] = []
        for effect in self._effects:
            if not effect.spec.active(t_s):
                effect.end()
                continue
            active.append(effect.spec.kind)
            effect.apply(read)
            if read.dropped:
                return FaultOutcome(None, read.skew_s, tuple(active))
        self._last = read.value
        return FaultOutcome(read.value, read.skew_s, tuple(active))
