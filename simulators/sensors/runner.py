"""Runs a scenario's nodes, one edge Agent per node config, in one asyncio loop (``iocgw sim sensors``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plumbing.configfile import ConfigError
from simulators.sensors.scenario import (
    DEFAULT_SCENARIO,
    alarm_levels,
    build_node_configs,
    link_loss_windows,
    load_scenario,
    write_node_configs,
)
from wire.nodeconfig import NodeConfig

Windows = Mapping[str, Sequence[tuple[float, float]]]


def _merge(windows: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of overlapping (start, duration) windows as (start, end), so one window's end cannot cut another."""
    spans = sorted((s, s + d) for s, d in windows)
    out: list[tuple[float, float]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def link_loss_schedule(link_loss: Windows, time_scale: float) -> list[tuple[float, str, bool]]:
    """(wall seconds from the start, node id, offline?) in time order."""
    events = []
    for node_id, windows in link_loss.items():
        for start, end in _merge(windows):
            events.append((start / time_scale, node_id, True))
            events.append((end / time_scale, node_id, False))
    return sorted(events)


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    """True when ``event`` is set within ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), max(0.0, timeout))
    return event.is_set()


async def _apply_link_loss(
    agents: Mapping[str, Any],
    schedule: list[tuple[float, str, bool]],
    t0: float,
    halt: asyncio.Event,
    applied: list[str],
) -> None:
    """Force links down and up on schedule; ``applied`` collects the nodes whose window has begun."""
    loop = asyncio.get_running_loop()
    for at, node_id, offline in schedule:
        agent = agents.get(node_id)
        if agent is None:
            continue
        if await _wait(halt, t0 + at - loop.time()):
            return
        agent.link.set_offline(offline)
        if offline:
            applied.append(node_id)


def _stats(agent: Any) -> dict[str, Any]:
    try:
        return dict(agent.stats())
    except Exception as exc:  # a broken agent must not lose the others' summary
        return {"error": f"stats failed: {exc}"}


async def run_scenario(
    configs: Sequence[NodeConfig],
    *,
    duration_s: float,
    link_loss: Windows | None = None,
    stop: asyncio.Event | None = None,
    progress: Callable[[str], None] | None = None,
    time_scale: float = 1.0,
    progress_every_s: float = 5.0,
    grace_s: float = 15.0,
) -> dict[str, Any]:
    """Run one Agent per config until ``duration_s`` wall seconds pass or ``stop`` is set; return a summary.

    ``link_loss`` windows are in scenario seconds and happen at wall time start_s / ``time_scale`` after the
    run starts: the node's link is forced offline (it keeps sampling into its outbox) and then let back.
    """
    from edge.agent import Agent  # here, so the rest of the simulator imports without the edge agent

    loop = asyncio.get_running_loop()
    agents = {c.node_id: await asyncio.to_thread(Agent.open, c) for c in configs}
    halt = asyncio.Event()
    t0 = loop.time()
    tasks = {nid: asyncio.create_task(a.run(halt), name=f"agent:{nid}") for nid, a in agents.items()}
    run = _ScenarioRun(agents, tasks, t0, progress)
    schedule = link_loss_schedule(link_loss or {}, time_scale)
    scheduler = asyncio.create_task(_apply_link_loss(agents, schedule, t0, halt, run.applied), name="link-loss")
    stop = stop or asyncio.Event()
    try:
        stopped_early = await run.supervise(stop, duration_s, progress_every_s)
    finally:
        # Counters may be unreadable once an agent has closed its outbox: keep what they said while running.
        running_stats = {nid: _stats(a) for nid, a in agents.items()}
        halt.set()
        scheduler.cancel()
        _, pending = await asyncio.wait([*tasks.values(), scheduler], timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    run.note_ends(grace_s)
    return run.summary(running_stats, stopped_early)


class _ScenarioRun:
    """The agents of one scenario run while they run, and what is reported of them."""

    def __init__(
        self,
        agents: dict[str, Any],
        tasks: dict[str, asyncio.Task[None]],
        t0: float,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.agents = agents
        self.tasks = tasks
        self.t0 = t0
        self.progress = progress
        self.loop = asyncio.get_running_loop()
        self.applied: list[str] = []  # nodes whose link-loss window has begun
        self.errors: dict[str, str] = {}

    async def supervise(self, stop: asyncio.Event, duration_s: float, progress_every_s: float) -> bool:
        """Watch the agents until ``duration_s`` has passed or every agent has stopped; True when ``stop`` came
        first."""
        t0 = self.t0
        next_report = t0 + progress_every_s
        while True:
            now = self.loop.time()
            self._note_failures()
            if now >= t0 + duration_s or all(t.done() for t in self.tasks.values()):
                return False
            if await _wait(stop, min(t0 + duration_s, next_report) - now):
                return True
            if self.loop.time() >= next_report:
                self._report()
                next_report += progress_every_s

    def _note_failures(self) -> None:
        for nid, task in self.tasks.items():
            if task.done() and nid not in self.errors and not task.cancelled() and task.exception() is not None:
                self.errors[nid] = f"{type(task.exception()).__name__}: {task.exception()}"
                if self.progress is not None:
                    self.progress(f"node {nid} stopped: {self.errors[nid]}")

    def _report(self) -> None:
        running = sum(1 for t in self.tasks.values() if not t.done())
        stats = [_stats(a) for a in self.agents.values()]
        readings = sum(int(s.get("readings", 0)) for s in stats)
        depth = sum(int(s.get("outbox_depth", 0)) for s in stats)
        if self.progress is not None:
            self.progress(
                f"[{self.loop.time() - self.t0:7.1f} s] nodes {running}/{len(self.agents)} running, readings "
                f"{readings}, outbox {depth}, link-loss windows begun {len(self.applied)}"
            )

    def note_ends(self, grace_s: float) -> None:
        """After the stop: the agents that failed meanwhile, and those that would not stop."""
        for nid, task in self.tasks.items():
            if nid not in self.errors and task.done() and not task.cancelled() and task.exception() is not None:
                self.errors[nid] = f"{type(task.exception()).__name__}: {task.exception()}"
            elif task.cancelled() and nid not in self.errors:
                self.errors[nid] = f"did not stop within {grace_s:g} s"

    def summary(self, running_stats: dict[str, dict[str, Any]], stopped_early: bool) -> dict[str, Any]:
        stats = {}
        for nid, agent in self.agents.items():
            final = _stats(agent)
            stats[nid] = running_stats[nid] if "error" in final else final
        if self.progress is not None:
            total = sum(int(s.get("readings", 0)) for s in stats.values())
            self.progress(f"[{self.loop.time() - self.t0:7.1f} s] stopped {len(self.agents)} nodes, readings {total}")
        readings = {nid: int(s.get("readings", 0)) for nid, s in stats.items()}
        return {
            "nodes": len(self.agents),
            "duration_s": round(self.loop.time() - self.t0, 3),
            "stopped_early": stopped_early,
            "readings_total": sum(readings.values()),
            "readings": readings,
            "outbox_depth": {nid: int(s.get("outbox_depth", 0)) for nid, s in stats.items()},
            "link_loss_windows": len(self.applied),
            "errors": self.errors,
        }


# -- CLI: iocgw sim sensors ---------------------------------------------------------------------------------
def _broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``iocgw sim sensors``."""
    parser.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help="scenario file, or a shipped scenario's name (default: %(default)s)",
    )
    parser.add_argument("--nodes", type=_count, help="total number of nodes, split over the scenario's groups")
    parser.add_argument("--seed", type=int, help="overrides the scenario's seed")
    parser.add_argument("--duration", type=float, help="wall seconds to run (default: the scenario's duration)")
    parser.add_argument("--time-scale", type=float, help="scenario seconds per wall second (default: the file's)")
    parser.add_argument("--broker", type=_broker, default=("127.0.0.1", 1883), metavar="HOST:PORT")
    parser.add_argument("--prefix", help="MQTT topic prefix (default: the scenario's)")
    parser.add_argument("--data-dir", type=Path, help="where node outboxes go (default: run/sim/<scenario>)")
    parser.add_argument(
        "--write-configs", type=Path, metavar="DIR", help="write the node configs here and exit (to register nodes)"
    )


def _write_alarm_levels(scenario: Any, args: argparse.Namespace, out_dir: Path) -> Path | None:
    levels = alarm_levels(scenario, nodes_override=args.nodes)
    if not levels:
        return None
    path = out_dir / "alarm_levels.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["node_id", "bd1_m", "bd2_m", "bd3_m", "source"])
        for node_id, lv in levels.items():
            w.writerow([node_id, lv.bd1_m, lv.bd2_m, lv.bd3_m, lv.source])
    return path


async def _run_with_signals(configs: list[NodeConfig], **kwargs: Any) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return await run_scenario(configs, stop=stop, **kwargs)


def main(args: argparse.Namespace) -> int:
    """0: ran (or wrote configs); 1: a node failed; 2: bad scenario file or arguments; 130: interrupted."""
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    scale = args.time_scale or scenario.time_scale
    host, port = args.broker
    try:
        configs = build_node_configs(
            scenario,
            seed=args.seed,
            broker_host=host,
            broker_port=port,
            data_dir=args.data_dir or Path("run/sim") / scenario.name,
            nodes_override=args.nodes,
            prefix=args.prefix,
            time_scale=scale,
            # One shared t=0 for a live run, so every node sees the same storm at the same moment.
            start=None if args.write_configs else datetime.now(UTC),
        )
    except ValueError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 2
    if args.write_configs:
        header = f"Generated by `iocgw sim sensors` from scenario {scenario.name} (seed {args.seed or scenario.seed})"
        paths = write_node_configs(configs, args.write_configs, header=header)
        levels = _write_alarm_levels(scenario, args, Path(args.write_configs))
        print(f"wrote {len(paths)} node configs to {args.write_configs}" + (f" and {levels.name}" if levels else ""))
        return 0
    duration = args.duration if args.duration is not None else scenario.duration_s / scale
    print(f"scenario {scenario.name}: {len(configs)} nodes for {duration:g} s (time scale {scale:g})", flush=True)
    try:
        summary = asyncio.run(
            _run_with_signals(
                configs,
                duration_s=duration,
                link_loss=link_loss_windows(scenario, seed=args.seed, nodes_override=args.nodes),
                progress=lambda msg: print(msg, flush=True),
                time_scale=scale,
            )
        )
    except ImportError as exc:
        print(f"cannot run nodes: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, ensure_ascii=False))
    if summary["errors"]:
        return 1
    return 130 if summary["stopped_early"] else 0  # 130: interrupted, as the rest of the CLI reports it
