"""The simulated driver through the SensorDriver interface and the node config schema."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from edge.drivers import DriverError, Sample, driver_class
from plumbing.configfile import ConfigError, parse_yaml_model
from simulators.sensors.driver import SimulatedConfig, SimulatedDriver
from wire import Quality
from wire.nodeconfig import NodeConfig

T0 = datetime(2025, 9, 7, 0, 0, tzinfo=UTC)  # 07:00 in Hà Nội

NODE = """\
node_id: sim-test
sensors:
  - id: stage
    quantity: water_level
    interval_s: 1
    driver:
      type: simulated
      model: river_stage
      seed: 3
      time_scale: 3600          # one scenario hour per wall second
      start: 2025-09-07T00:00:00Z
      params:
        base_m: 1.0
        peak_m: 3.0
        bursts: [{start_s: 0, duration_s: 21600, total_mm: 150}]
  - id: rain
    quantity: rainfall
    interval_s: 1
    driver:
      type: simulated
      model: rain_gauge
      time_scale: 3600
      start: 2025-09-07T00:00:00Z
      params: {bursts: [{start_s: 0, duration_s: 21600, total_mm: 150}], resolution_mm: 0}
      faults:
        - {kind: dropout, start_s: 7200, duration_s: 3600}
  - id: temperature
    quantity: temperature
    interval_s: 1
    driver:
      type: simulated
      model: temperature
      time_scale: 3600
      start: 2025-09-07T00:00:00Z
      params: {start_local_hour: 7, mean_c: 29, amplitude_c: 5}
      faults:
        - {kind: clock_skew, skew_s: -120}
"""


def drivers(text: str = NODE) -> dict[str, SimulatedDriver]:
    node = parse_yaml_model(text, NodeConfig)
    return {s.id: driver_class(s.driver.type)(s.driver, s) for s in node.sensors}  # type: ignore[misc]


async def read_series(driver: SimulatedDriver, hours: list[float]) -> list[Sample | None]:
    await driver.open()
    out: list[Sample | None] = []
    for h in hours:
        try:
            out.append(await driver.read(T0 + timedelta(seconds=h)))  # time_scale 3600: h wall s = h hours
        except DriverError:
            out.append(None)
    await driver.close()
    return out


def test_registered_under_simulated() -> None:
    assert driver_class("simulated") is SimulatedDriver


def test_reads_plausible_values_on_scenario_time() -> None:
    d = drivers()
    hours = [float(h) for h in range(0, 49)]
    stage = asyncio.run(read_series(d["stage"], hours))
    values = [s.value for s in stage if s is not None]
    assert all(s is not None and s.quality is Quality.GOOD and s.ts is None for s in stage)
    assert values[0] == pytest.approx(1.0, abs=0.05)
    assert max(values) == pytest.approx(3.0, abs=0.05)
    assert values.index(max(values)) > 3  # after the rain's middle: the wave is routed
    temps = asyncio.run(read_series(d["temperature"], hours[:24]))
    local_hour_of_max = (7 + max(range(24), key=lambda i: temps[i].value)) % 24  # type: ignore[union-attr]
    assert 13 <= local_hour_of_max <= 15
    assert all(15 < s.value < 40 for s in temps)  # type: ignore[union-attr]


def test_dropout_raises_and_the_next_read_carries_the_missed_rain() -> None:
    rain = asyncio.run(read_series(drivers()["rain"], [0.0, 1.0, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0]))
    assert rain[0] is not None and rain[0].value == 0.0  # the first read has no previous one
    assert rain[2] is None and rain[3] is None  # 7200-10800 s of scenario time: dropped
    assert rain[4] is not None  # back after the window ...
    total = sum(s.value for s in rain if s is not None)
    assert total == pytest.approx(150.0, abs=1e-6)  # ... and nothing was lost


def test_clock_skew_moves_the_timestamp() -> None:
    now = T0 + timedelta(seconds=5)
    sample = asyncio.run(drivers()["temperature"].read(now))
    assert sample.ts == now - timedelta(seconds=120)


def test_start_defaults_to_open_time() -> None:
    text = NODE.replace("      start: 2025-09-07T00:00:00Z\n", "")
    d = drivers(text)["stage"]
    asyncio.run(d.open())
    assert d.scenario_time(datetime.now(UTC) - timedelta(seconds=10)) == 0.0  # before t=0: clamped
    assert d.scenario_time(datetime.now(UTC) + timedelta(seconds=2)) == pytest.approx(7200, abs=200)


def test_bad_param_fails_at_config_time_with_field_and_line() -> None:
    text = NODE.replace("peak_m: 3.0", "peak_m: tall")
    with pytest.raises(ConfigError) as exc:
        parse_yaml_model(text, NodeConfig, source="node.yaml")
    msg = str(exc.value)
    assert "node.yaml: line " in msg and "peak_m" in msg and "params" in msg


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: constant"):
        SimulatedConfig(model="tide")


def test_config_round_trips_through_json() -> None:
    cfg = SimulatedConfig.model_validate(
        {"model": "rain_gauge", "params": {"bursts": []}, "faults": [{"kind": "spike", "magnitude": 3}]}
    )
    assert SimulatedConfig.model_validate_json(cfg.model_dump_json()) == cfg
