"""The scenario runner and its CLI, with a fake Agent standing in for edge.agent (no broker, no network)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from simulators.sensors import runner
from simulators.sensors.scenario import build_node_configs, load_scenario
from wire.nodeconfig import NodeConfig, load_node_config


class FakeLink:
    def __init__(self, log: list[tuple[float, str, bool]], node_id: str) -> None:
        self.log, self.node_id, self.offline = log, node_id, False

    def set_offline(self, offline: bool) -> None:
        self.offline = offline
        self.log.append((time.monotonic(), self.node_id, offline))


class FakeAgent:
    """Honours the Agent contract: Agent.open(config); run(stop) until stop is set; link.set_offline(); stats()."""

    instances: ClassVar[list[FakeAgent]] = []
    link_log: ClassVar[list[tuple[float, str, bool]]] = []
    fail: ClassVar[set[str]] = set()

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.link = FakeLink(FakeAgent.link_log, config.node_id)
        self.readings = 0
        FakeAgent.instances.append(self)

    @classmethod
    def open(cls, config: NodeConfig) -> FakeAgent:
        return cls(config)

    async def run(self, stop: asyncio.Event) -> None:
        if self.config.node_id in FakeAgent.fail:
            raise RuntimeError("outbox disk full")
        while not stop.is_set():
            self.readings += len(self.config.sensors)
            with contextlib.suppress(TimeoutError):  # a 10 ms sampling tick that ends the moment stop is set
                await asyncio.wait_for(stop.wait(), 0.01)

    def stats(self) -> dict[str, Any]:
        return {"readings": self.readings, "outbox_depth": 3 if self.link.offline else 0}


@pytest.fixture
def fake_agent(monkeypatch: pytest.MonkeyPatch) -> type[FakeAgent]:
    FakeAgent.instances, FakeAgent.link_log, FakeAgent.fail = [], [], set()
    module = types.ModuleType("edge.agent")
    module.Agent = FakeAgent  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "edge.agent", module)
    return FakeAgent


def configs(tmp_path: Path, name: str = "faults") -> list[NodeConfig]:
    return build_node_configs(load_scenario(name), data_dir=tmp_path)


def test_runs_every_node_applies_link_loss_and_summarises(fake_agent: type[FakeAgent], tmp_path: Path) -> None:
    cfgs = configs(tmp_path)
    messages: list[str] = []
    t0 = time.monotonic()
    summary = asyncio.run(
        runner.run_scenario(
            cfgs,
            duration_s=0.6,
            link_loss={cfgs[0].node_id: [(100.0, 100.0)], "not-a-node": [(0.0, 1.0)]},
            progress=messages.append,
            time_scale=1000.0,  # scenario 100-200 s = wall 0.1-0.2 s
            progress_every_s=0.2,
        )
    )
    assert summary["nodes"] == len(cfgs) == len(fake_agent.instances)
    assert 0.55 <= summary["duration_s"] < 2.0
    assert summary["readings_total"] == sum(summary["readings"].values()) > 0
    assert set(summary["readings"]) == {c.node_id for c in cfgs}
    assert summary["link_loss_windows"] == 1 and summary["errors"] == {} and not summary["stopped_early"]
    (off, on) = fake_agent.link_log
    assert off[1:] == (cfgs[0].node_id, True) and on[1:] == (cfgs[0].node_id, False)
    assert 0.08 <= off[0] - t0 <= 0.3 and 0.08 <= on[0] - off[0] <= 0.25
    assert len(messages) >= 2 and "readings" in messages[0]


def test_stop_event_ends_the_run_early(fake_agent: type[FakeAgent], tmp_path: Path) -> None:
    async def go() -> dict[str, Any]:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        return await runner.run_scenario(configs(tmp_path), duration_s=30, link_loss=None, stop=stop, progress=None)

    summary = asyncio.run(go())
    assert summary["stopped_early"] and summary["duration_s"] < 2.0


def test_a_failing_node_is_reported_and_the_others_run_on(fake_agent: type[FakeAgent], tmp_path: Path) -> None:
    cfgs = configs(tmp_path)
    fake_agent.fail = {cfgs[1].node_id}
    summary = asyncio.run(runner.run_scenario(cfgs, duration_s=0.3, link_loss=None, stop=None, progress=None))
    assert list(summary["errors"]) == [cfgs[1].node_id] and "disk full" in summary["errors"][cfgs[1].node_id]
    assert summary["readings"][cfgs[0].node_id] > 0


def test_overlapping_windows_merge() -> None:
    schedule = runner.link_loss_schedule({"a": [(10.0, 20.0), (25.0, 10.0), (100.0, 5.0)]}, time_scale=10.0)
    assert schedule == [(1.0, "a", True), (3.5, "a", False), (10.0, "a", True), (10.5, "a", False)]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_writes_configs_and_alarm_levels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nodes"
    args = parse("--write-configs", str(out), "--nodes", "5", "--broker", "hub.local:8883", "--prefix", "demo")
    assert args.scenario == "typhoon_flood"
    assert runner.main(args) == 0
    files = sorted(out.glob("*.yaml"))
    assert len(files) == 5
    cfg = load_node_config(files[0])
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.prefix) == ("hub.local", 8883, "demo")
    assert all(s.driver.start is None for s in cfg.sensors)  # each node starts its clock when it opens
    assert (out / "alarm_levels.csv").read_text(encoding="utf-8").startswith("node_id,bd1_m,bd2_m,bd3_m,source")
    assert "wrote 5 node configs" in capsys.readouterr().out


def test_cli_bad_scenario_exits_2_naming_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nduration_s: 60\ngroups:\n  - name: g\n    kind: lake\n    sensors: []\n")
    assert runner.main(parse("--scenario", str(bad))) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 5: groups.0.kind" in err
    assert runner.main(parse("--scenario", "no_such_scenario")) == 2


def test_cli_bad_broker_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--broker", "localhost")
    assert exc.value.code == 2


def test_cli_runs_the_scenario(fake_agent: type[FakeAgent], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("--scenario", "faults", "--duration", "0.3", "--data-dir", str(tmp_path), "--seed", "5")
    assert runner.main(args) == 0
    out = capsys.readouterr().out
    assert '"readings_total"' in out
    starts = {s.driver.start for a in fake_agent.instances for s in a.config.sensors}
    assert len(starts) == 1 and None not in starts  # one shared t=0 for the whole run
