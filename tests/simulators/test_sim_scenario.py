"""Scenario files: every shipped one validates, expands reproducibly and writes node configs that read back."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from plumbing.configfile import ConfigError, parse_yaml_model
from simulators.sensors.models import SIGNAL_MODELS, create_model
from simulators.sensors.scenario import (
    SCENARIO_DIR,
    Scenario,
    alarm_levels,
    build_node_configs,
    expand_nodes,
    link_loss_windows,
    list_scenarios,
    load_scenario,
    resolve_scenario,
    write_node_configs,
)
from wire.nodeconfig import NodeConfig, load_node_config

SHARED_LEVELS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flood_alarm_levels.csv"
SHIPPED = ["dry_season", "dry_season_fire", "faults", "load", "reservoir_filling", "typhoon_flood"]


def test_shipped_scenarios_are_found_by_name() -> None:
    assert set(SHIPPED) <= set(list_scenarios())
    assert resolve_scenario("typhoon_flood") == SCENARIO_DIR / "typhoon_flood.yaml"
    assert resolve_scenario("typhoon_flood.yaml") == SCENARIO_DIR / "typhoon_flood.yaml"
    with pytest.raises(FileNotFoundError, match="typhoon_flood"):
        resolve_scenario("no_such_scenario")
    with pytest.raises(ConfigError, match="no_such_scenario"):
        load_scenario("no_such_scenario")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_expands_into_node_configs_that_round_trip(name: str, tmp_path: Path) -> None:
    scenario = load_scenario(name)
    override = 12 if name == "load" else None  # the full load scenario is 300 nodes: same code, slower YAML
    configs = build_node_configs(scenario, data_dir=tmp_path / "data", nodes_override=override, broker_port=1884)
    assert configs and all(isinstance(c, NodeConfig) for c in configs)
    assert len({c.node_id for c in configs}) == len(configs)
    assert len({c.outbox_path for c in configs}) == len(configs)  # one outbox per node
    for c in configs:
        assert c.data_dir == (tmp_path / "data" / c.node_id).resolve()
        assert c.mqtt.port == 1884 and c.mqtt.prefix == scenario.mqtt_prefix
        for s in c.sensors:
            assert s.driver.type == "simulated" and s.driver.time_scale == scenario.time_scale
    paths = write_node_configs(configs, tmp_path / "configs", header=f"scenario {name}")
    assert [p.name for p in paths] == [f"{c.node_id}.yaml" for c in configs]
    for path, cfg in zip(paths, configs, strict=True):
        assert load_node_config(path) == cfg


def test_every_model_is_used_by_a_shipped_scenario_and_documented() -> None:
    used = {s.model for name in SHIPPED for g in load_scenario(name).groups for s in g.sensors}
    assert used == set(SIGNAL_MODELS)
    doc = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text(encoding="utf-8")
    assert all(f"`{m}`" in doc for m in SIGNAL_MODELS)


def test_expansion_is_reproducible_from_the_seed(tmp_path: Path) -> None:
    scenario = load_scenario("typhoon_flood")
    a = build_node_configs(scenario, data_dir=tmp_path)
    assert build_node_configs(scenario, data_dir=tmp_path) == a
    b = build_node_configs(scenario, data_dir=tmp_path, seed=scenario.seed + 1)
    assert [c.node_id for c in b] == [c.node_id for c in a]
    assert [c.site.lat for c in b] != [c.site.lat for c in a]
    assert a[0].sensors[0].driver.seed != b[0].sensors[0].driver.seed


def test_nodes_override_sets_the_total_and_keeps_every_group(tmp_path: Path) -> None:
    scenario = load_scenario("typhoon_flood")
    for total in (5, 13, 40):
        nodes = expand_nodes(scenario, total)
        assert len(nodes) == total
        assert {g.name for g, _, _ in nodes} == {g.name for g in scenario.groups}
    assert len(expand_nodes(scenario, 2)) == 2
    assert len(expand_nodes(load_scenario("load"), 1000)) == 1000


def test_time_scale_turns_scenario_intervals_into_wall_intervals(tmp_path: Path) -> None:
    scenario = load_scenario("typhoon_flood")
    cfg = build_node_configs(scenario, data_dir=tmp_path)[0]
    assert cfg.sensors[0].interval_s == 900 / 720
    slow = build_node_configs(scenario, data_dir=tmp_path, time_scale=1.0)[0]
    assert slow.sensors[0].interval_s == 900 and slow.sensors[0].driver.time_scale == 1.0


def _stage_series(cfg: NodeConfig, duration_s: float) -> list[float]:
    stage = next(s for s in cfg.sensors if s.driver.model == "river_stage")
    model = create_model(stage.driver.model, stage.driver.params, stage.driver.seed)
    return [model.sample(None, t) for t in range(0, int(duration_s) + 1, 900)]


def test_typhoon_rivers_cross_bd3_and_fall_back_below_bd1(tmp_path: Path) -> None:
    scenario = load_scenario("typhoon_flood")
    levels = alarm_levels(scenario)
    configs = {c.node_id: c for c in build_node_configs(scenario, data_dir=tmp_path)}
    assert len(levels) == 3
    above_bd3 = 0
    for node_id, lv in levels.items():
        series = _stage_series(configs[node_id], scenario.duration_s)
        assert series[0] < lv.bd1_m and series[-1] < lv.bd1_m, node_id
        first_bd1 = next(i for i, v in enumerate(series) if v >= lv.bd1_m)
        peak = max(series)
        assert peak >= lv.bd2_m, node_id
        if peak >= lv.bd3_m:
            above_bd3 += 1
            first_bd3 = next(i for i, v in enumerate(series) if v >= lv.bd3_m)
            assert first_bd1 < first_bd3  # rises through the levels in order
            back = next(i for i in range(first_bd3, len(series)) if series[i] < lv.bd1_m)
            assert back < len(series) - 1
    assert above_bd3 == 2  # Long Biên and Kim Long; Sơn Tây stops between BĐ2 and BĐ3


@pytest.mark.skipif(not SHARED_LEVELS.exists(), reason="shared data not checked out")
def test_typhoon_alarm_levels_are_the_published_ones() -> None:
    with SHARED_LEVELS.open(encoding="utf-8") as f:
        published = {row["station"]: row for row in csv.DictReader(f)}
    scenario = load_scenario("typhoon_flood")
    for group in scenario.groups:
        site = group.site_for(1)
        if site.alarm_levels is None:
            continue
        row = next(r for station, r in published.items() if station.split(" (")[-1].rstrip(")") in (site.name or ""))
        assert (site.alarm_levels.bd1_m, site.alarm_levels.bd2_m, site.alarm_levels.bd3_m) == (
            float(row["bd1_m"]),
            float(row["bd2_m"]),
            float(row["bd3_m"]),
        )


def test_reservoir_scenario_spills(tmp_path: Path) -> None:
    scenario = load_scenario("reservoir_filling")
    cfg = build_node_configs(scenario, data_dir=tmp_path)[0]
    drv = {s.id: s.driver for s in cfg.sensors}
    level = create_model("reservoir_level", drv["level"].params, drv["level"].seed)
    outflow = create_model("outflow", drv["outflow"].params, drv["outflow"].seed)
    hours = range(0, int(scenario.duration_s // 3600))
    levels = [level.sample(None, h * 3600.0) for h in hours]
    flows = [outflow.sample(None, h * 3600.0) for h in hours]
    normal = drv["level"].params["normal_level_m"]
    assert levels[0] < normal < max(levels)
    assert max(flows) > 2.5 * flows[0]  # the spillway adds to the turbine release
    assert levels[-1] < max(levels)  # and the level is falling by the end


def test_fault_targets_and_link_loss(tmp_path: Path) -> None:
    scenario = load_scenario("faults")
    configs = {c.node_id: c for c in build_node_configs(scenario, data_dir=tmp_path)}
    kinds = {
        nid: {s.id: [f.kind for f in s.driver.faults] for s in c.sensors if s.driver.faults}
        for nid, c in configs.items()
    }
    assert kinds["river-flt-001"] == {"stage": ["spike"], "battery": ["noise"]}
    assert kinds["river-flt-002"] == {"stage": ["stuck"], "battery": ["noise"]}
    assert kinds["river-flt-003"] == {"rain": ["dropout"], "battery": ["noise"]}
    assert kinds["env-flt-002"] == {"temperature": ["clock_skew"], "humidity": ["dropout", "clock_skew"]}
    windows = link_loss_windows(scenario)
    assert windows["river-flt-001"] == [(1800.0, 600.0)]
    assert len([n for n in windows if n.startswith("env-")]) == 1  # fraction 0.5 of two nodes, seeded


BAD = """\
name: broken
duration_s: 3600
groups:
  - name: river
    kind: river_station
    sensors:
      - id: stage
        model: river_stage
        params:
          base_m: 2.0
          peak_m: tall
"""


def test_bad_scenario_names_file_line_and_field() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_yaml_model(BAD, Scenario, source="broken.yaml")
    assert exc.value.path == "broken.yaml"
    (problem,) = exc.value.problems
    # Line 9 holds ``params:``, line 10 its first entry; either points the reader at the right place.
    assert re.match(r"line (9|10): groups\.0\.sensors\.0\.params: .*peak_m: Input should be a valid number", problem)


@pytest.mark.parametrize(
    ("change", "expect"),
    [
        (("kind: river_station", "kind: river_station\n    colour: blue"), "groups.0.colour: Extra inputs"),
        (("model: river_stage", "model: tide"), "unknown model 'tide'"),
        (("duration_s: 3600", "duration_s: -1"), "line 2: duration_s"),
        (("    sensors:", "    id_pattern: River-{i}\n    sensors:"), "not a valid node id"),
        (("    sensors:", "    id_pattern: river\n    count: 2\n    sensors:"), "made by groups"),
        (("    sensors:", "    faults: [{kind: stuck, sensors: [stag]}]\n    sensors:"), "unknown sensors: stag"),
    ],
)
def test_bad_scenario_errors_are_specific(change: tuple[str, str], expect: str) -> None:
    text = BAD.replace("peak_m: tall", "peak_m: 3.0").replace(*change)
    with pytest.raises(ConfigError, match=expect):
        parse_yaml_model(text, Scenario, source="broken.yaml")


def test_constant_needs_a_quantity() -> None:
    text = BAD.replace("model: river_stage", "model: constant").replace(
        "        params:\n          base_m: 2.0\n          peak_m: tall\n", ""
    )
    with pytest.raises(ConfigError, match="set quantity"):
        parse_yaml_model(text, Scenario)
