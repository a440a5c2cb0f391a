"""Faults do what they say, at the times they say, the same way every run."""

from __future__ import annotations

import statistics

import pytest
from pydantic import TypeAdapter, ValidationError

from simulators.sensors.faults import FaultInjector
from wire.nodeconfig.simulated import (
    ClockSkewFault,
    DropoutFault,
    FaultSpec,
    NoiseFault,
    SpikeFault,
    StuckFault,
)


def ramp(t: float) -> float:
    return 10.0 + t / 100.0


def run(injector: FaultInjector, times: list[float]) -> list[float | None]:
    return [injector.apply(t, ramp(t)).value for t in times]


TIMES = [float(t) for t in range(0, 1000, 10)]


def test_stuck_repeats_the_last_reading_for_its_window_only() -> None:
    out = run(FaultInjector([StuckFault(start_s=300, duration_s=200)], seed=1), TIMES)
    before = out[TIMES.index(290.0)]
    inside = [v for t, v in zip(TIMES, out, strict=True) if 300 <= t < 500]
    assert inside and set(inside) == {before}
    assert out[TIMES.index(500.0)] == ramp(500.0)  # released at the window's end


def test_stuck_without_history_freezes_the_first_value() -> None:
    inj = FaultInjector([StuckFault()], seed=1)
    assert [inj.apply(t, ramp(t)).value for t in (5.0, 50.0, 500.0)] == [ramp(5.0)] * 3


@pytest.mark.parametrize(("direction", "sign"), [("up", 1.0), ("down", -1.0)])
def test_spike_adds_its_magnitude(direction: str, sign: float) -> None:
    inj = FaultInjector([SpikeFault(magnitude=2.5, probability=1.0, direction=direction, start_s=100)], seed=1)  # type: ignore[arg-type]
    for t in TIMES:
        expected = ramp(t) + (sign * 2.5 if t >= 100 else 0.0)
        assert inj.apply(t, ramp(t)).value == pytest.approx(expected)


def test_spike_probability_and_both_directions() -> None:
    inj = FaultInjector([SpikeFault(magnitude=5.0, probability=0.2, direction="both")], seed=4)
    times = [t * 0.5 for t in range(4000)]
    deltas = [inj.apply(t, 0.0).value for t in times]
    spikes = [d for d in deltas if d]
    assert 0.15 < len(spikes) / len(times) < 0.25
    assert set(spikes) == {5.0, -5.0}


def test_dropout_window_drops_every_read_inside_it() -> None:
    inj = FaultInjector([DropoutFault(start_s=200, duration_s=100)], seed=1)
    for t in TIMES:
        outcome = inj.apply(t, ramp(t))
        assert outcome.dropped == (200 <= t < 300)
        assert ("dropout" in outcome.active) == (200 <= t < 300)


def test_partial_dropout_drops_about_its_share() -> None:
    inj = FaultInjector([DropoutFault(probability=0.3)], seed=9)
    dropped = sum(inj.apply(t * 1.0, 1.0).dropped for t in range(5000))
    assert 1300 < dropped < 1700


def test_noise_has_the_configured_spread() -> None:
    inj = FaultInjector([NoiseFault(sd=0.5)], seed=2)
    values = [inj.apply(t * 1.0, 0.0).value for t in range(5000)]
    assert statistics.pstdev(values) == pytest.approx(0.5, rel=0.05)  # type: ignore[arg-type]
    assert abs(statistics.fmean(values)) < 0.03  # type: ignore[arg-type]


def test_clock_skew_only_in_its_window() -> None:
    inj = FaultInjector([ClockSkewFault(skew_s=-90, start_s=100, duration_s=50)], seed=1)
    assert [inj.apply(t, 1.0).skew_s for t in (99.0, 100.0, 149.0, 150.0)] == [0.0, -90.0, -90.0, 0.0]
    assert inj.apply(120.0, 1.0).value == 1.0


def test_same_seed_same_faults() -> None:
    faults = [SpikeFault(magnitude=1.0, probability=0.3), DropoutFault(probability=0.2)]
    a = run(FaultInjector(faults, seed=11), TIMES)
    assert run(FaultInjector(faults, seed=11), TIMES) == a
    assert run(FaultInjector(faults, seed=12), TIMES) != a


def test_stuck_wins_over_noise_so_a_frozen_sensor_repeats_exactly() -> None:
    inj = FaultInjector([NoiseFault(sd=1.0), StuckFault(start_s=50)], seed=3)
    values = [inj.apply(t, 0.0).value for t in TIMES if t >= 50]
    assert len(set(values)) == 1


def test_fault_specs_validate_by_kind() -> None:
    adapter = TypeAdapter(list[FaultSpec])
    faults = adapter.validate_python([{"kind": "stuck", "start_s": 5}, {"kind": "clock_skew", "skew_s": 30}])
    assert isinstance(faults[0], StuckFault) and isinstance(faults[1], ClockSkewFault)
    with pytest.raises(ValidationError, match="magnitude"):
        adapter.validate_python([{"kind": "spike"}])
    with pytest.raises(ValidationError, match="'spike'"):
        adapter.validate_python([{"kind": "gremlin"}])
    with pytest.raises(ValidationError, match="duration_s"):
        adapter.validate_python([{"kind": "stuck", "duration_s": 0}])
