"""Replaying a scenario with scenario-time device timestamps (``iocgw sim replay``).

``iocgw sim sensors`` runs nodes on the wall clock: a compressed scenario gets compressed timestamps, so rules that
look at the time of day (the 13:00-local Nesterov reading) or at rates (metres per hour) see nonsense. A replay
instead samples every sensor at its scenario interval and stamps each reading ``start + t``: five days of typhoon
arrive at the hub in seconds, each reading with the time it would have had in the field.

1. ``build_replay(scenario, start)`` samples the same signal models, seeds and faults as the live simulated driver
   (it *is* the driver, read at ``start + t``) and returns, per node, the ordered reading batches and the
   scripted camera events (``camera_events:`` in the scenario file).
2. ``publish_replay(replay)`` (or ``ReplayThread`` from synchronous code) runs one real edge ``Agent`` per node,
   without its sampler, and writes the batches and events into each node's durable outbox, step by step, as
   fast as the links drain them. A camera event is a barrier: everything before it is confirmed (by the hub, in
   the default end-to-end mode) before the event is written, and the event before anything after it, so the hub
   evaluates it against the fire danger of its own moment.
"""

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plumbing.configfile import ConfigError, load_yaml_model
from simulators.sensors.replay_plan import (
    CameraEvent,
    ReadingBatch,
    Replay,
    ReplayScenario,
    build_replay,
    replay_configs,
)
from simulators.sensors.replay_publish import (
    ReplayError,
    ReplayState,
    ReplayThread,
    plan_steps,
    publish_config,
    publish_replay,
)
from simulators.sensors.scenario import (
    DEFAULT_SCENARIO,
    CameraEventSpec,
    resolve_scenario,
    write_node_configs,
)
from wire.nodeconfig import Confirm
from wire.timepolicy import MAX_AHEAD


def load_replay_scenario(name: str | Path) -> ReplayScenario:
    """A scenario by path or shipped name, camera events allowed; ConfigError names file, line and field."""
    try:
        path = resolve_scenario(name)
    except FileNotFoundError as exc:
        raise ConfigError(name, [str(exc)]) from None
    return load_yaml_model(path, ReplayScenario)


# -- CLI: iocgw sim replay ------------------------------------------------------------------------------------
def _start(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date and time, got {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"give a UTC offset, e.g. {text}+07:00 or {text}Z")
    if not 2000 <= value.year < 2200:
        raise argparse.ArgumentTypeError("start must be within 2000-2199, the contract's timestamp range")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``iocgw sim replay``."""
    from simulators.sensors.runner import _broker, _count

    parser.add_argument(
        "--scenario", default=DEFAULT_SCENARIO, help="scenario file or shipped name (default: %(default)s)"
    )
    parser.add_argument(
        "--start", type=_start, required=True, metavar="ISO", help="device time of scenario t=0, with its UTC offset"
    )
    parser.add_argument("--broker", type=_broker, default=("127.0.0.1", 1883), metavar="HOST:PORT")
    parser.add_argument("--nodes", type=_count, help="total number of nodes, split over the scenario's groups")
    parser.add_argument("--seed", type=int, help="overrides the scenario's seed")
    parser.add_argument("--until", type=float, metavar="S", help="replay scenario time 0..S only")
    parser.add_argument("--prefix", help="MQTT topic prefix (default: the scenario's)")
    parser.add_argument("--data-dir", type=Path, help="where node outboxes go (default: run/replay/<scenario>)")
    parser.add_argument("--window", type=float, default=3 * 3600.0, help="scenario seconds per step (default 3 h)")
    parser.add_argument(
        "--drain-timeout", type=float, default=120.0, help="longest wait for outboxes to drain, s (default 120)"
    )
    parser.add_argument(
        "--confirm",
        choices=[c.value for c in Confirm],
        default=Confirm.HUB.value,
        help="a message leaves the outbox when the hub stores it (hub, default: needs a running hub) or on the "
        "broker's PUBACK (broker)",
    )
    parser.add_argument(
        "--write-configs", type=Path, metavar="DIR", help="write the node configs (hub seed files) here and exit"
    )


async def _run_with_signals(replay: Replay, **kwargs: Any) -> dict[str, Any]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return await publish_replay(replay, stop=stop, **kwargs)


def main(args: argparse.Namespace) -> int:
    """0: replayed (or wrote configs); 1: delivery failed; 2: bad scenario file or arguments; 130: interrupted."""
    try:
        scenario = load_replay_scenario(args.scenario)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    host, port = args.broker
    common = {
        "seed": args.seed,
        "broker_host": host,
        "broker_port": port,
        "data_dir": args.data_dir or Path("run/replay") / scenario.name,
        "nodes_override": args.nodes,
        "prefix": args.prefix,
    }
    try:
        if args.write_configs:
            configs = replay_configs(scenario, args.start, **common)
            header = (
                f"Generated by `iocgw sim replay` from scenario {scenario.name} (seed {args.seed or scenario.seed}), "
                f"t=0 at {args.start.isoformat()}; intervals in scenario seconds"
            )
            paths = write_node_configs(configs, args.write_configs, header=header)
            print(f"wrote {len(paths)} node configs to {args.write_configs}")
            return 0
        if args.window <= 0 or args.drain_timeout <= 0 or (args.until is not None and args.until <= 0):
            print("--window, --drain-timeout and --until must be positive", file=sys.stderr)
            return 2
        t0 = time.monotonic()
        replay = build_replay(scenario, args.start, until_s=args.until, **common)
    except ValueError as exc:
        print(f"{args.scenario}: {exc}", file=sys.stderr)
        return 2
    c = replay.counts()
    print(
        f"scenario {scenario.name}: {c['nodes']} nodes, {c['readings']} readings in {c['batches']} batches, "
        f"{c['events']} camera event messages over {replay.duration_s / 3600:g} h from {replay.start.isoformat()} "
        f"(sampled in {time.monotonic() - t0:.1f} s)",
        flush=True,
    )
    ahead = replay.end - datetime.now(UTC)
    if ahead > MAX_AHEAD:
        print(
            f"warning: device times run {ahead} past now; a hub refuses readings stamped more than "
            f"{MAX_AHEAD} ahead of its clock (docs/contract.md, data-time policy): start the replay further back",
            file=sys.stderr,
            flush=True,
        )
    try:
        summary = asyncio.run(
            _run_with_signals(
                replay,
                window_s=args.window,
                drain_timeout_s=args.drain_timeout,
                confirm=Confirm(args.confirm),
                progress=lambda msg: print(msg, flush=True),
            )
        )
    except ReplayError as exc:
        print(f"replay failed: {exc}", file=sys.stderr)
        return 1
    summary.pop("link", None)
    print(json.dumps(summary, ensure_ascii=False))
    return 130 if summary["stopped_early"] else 0


__all__ = [
    "CameraEvent",
    "CameraEventSpec",
    "ReadingBatch",
    "Replay",
    "ReplayError",
    "ReplayScenario",
    "ReplayState",
    "ReplayThread",
    "add_arguments",
    "build_replay",
    "load_replay_scenario",
    "main",
    "plan_steps",
    "publish_config",
    "publish_replay",
    "replay_configs",
]
