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

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import Confirm, NodeConfig
from iocgw.configfile import ConfigError, load_yaml_model
from simulators.sensors.runner import _merge
from simulators.sensors.scenario import (
    DEFAULT_SCENARIO,
    CameraEventSpec,
    Scenario,
    build_node_configs,
    link_loss_windows,
    resolve_scenario,
    write_node_configs,
)
from wire import CANONICAL_UNITS, EventMessage, Reading, TelemetryMessage
from wire.messages import EventPhase

if TYPE_CHECKING:
    from edge.agent import Agent

Progress = Callable[[str], None]


# Scenario files may script camera events; only a replay plays them (the live runner has no camera yet).
ReplayScenario = Scenario


def load_replay_scenario(name: str | Path) -> ReplayScenario:
    """A scenario by path or shipped name, camera events allowed; ConfigError names file, line and field."""
    try:
        path = resolve_scenario(name)
    except FileNotFoundError as exc:
        raise ConfigError(name, [str(exc)]) from None
    return load_yaml_model(path, ReplayScenario)


# -- what a replay sends ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """The readings of one node's sampling tick at scenario time ``t_s`` (device time ``ts``)."""

    t_s: float
    ts: datetime
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """One event message of a scripted detection, at scenario time ``t_s``; ``message(seq)`` builds it."""

    t_s: float
    ts: datetime
    node_id: str
    event_id: str
    phase: EventPhase
    camera: str
    label: str
    score: float
    top_score: float
    box: tuple[float, float, float, float]
    zones: tuple[str, ...]
    start: datetime
    end: datetime | None = None

    def message(self, seq: int) -> EventMessage:
        return EventMessage(
            node_id=self.node_id,
            seq=seq,
            ts=self.ts,
            event_id=self.event_id,
            phase=self.phase,
            camera=self.camera,
            label=self.label,
            score=self.score,
            top_score=self.top_score,
            box=self.box,
            zones=list(self.zones),
            start=self.start,
            end=self.end,
        )


Item = ReadingBatch | CameraEvent


@dataclass
class Replay:
    """A scenario sampled on scenario time from ``start``: per node, its batches and camera events in order."""

    scenario: Scenario
    start: datetime
    duration_s: float
    configs: list[NodeConfig]
    batches: dict[str, list[ReadingBatch]]
    events: dict[str, list[CameraEvent]] = field(default_factory=dict)
    link_loss: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # node -> [(start_s, end_s)]

    @property
    def node_ids(self) -> list[str]:
        return [c.node_id for c in self.configs]

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration_s)

    def release_s(self, node_id: str, t_s: float) -> float:
        """When what the node sampled at ``t_s`` leaves it: at once, or when its link comes back from a loss."""
        for start, end in self.link_loss.get(node_id, ()):
            if start <= t_s < end:
                return end
        return t_s

    def items(self, node_id: str) -> list[Item]:
        """The node's batches and events in the order it sends them: by release time, then sampling time; at the
        same instant the readings come first."""
        merged: list[tuple[float, int, Item]] = [(b.t_s, 0, b) for b in self.batches.get(node_id, [])]
        merged += [(e.t_s, 1, e) for e in self.events.get(node_id, [])]
        merged.sort(key=lambda x: (self.release_s(node_id, x[0]), x[0], x[1]))
        return [m[2] for m in merged]

    def series(self, node_id: str, sensor_id: str) -> list[tuple[datetime, float]]:
        """(device timestamp, value) of one sensor, in order: what the hub's rules will see."""
        return [
            (r.ts or b.ts, r.value)
            for b in self.batches.get(node_id, [])
            for r in b.readings
            if r.sensor_id == sensor_id
        ]

    def counts(self) -> dict[str, int]:
        return {
            "nodes": len(self.configs),
            "batches": sum(len(b) for b in self.batches.values()),
            "readings": sum(len(b.readings) for bs in self.batches.values() for b in bs),
            "events": sum(len(e) for e in self.events.values()),
        }


def _at(start: datetime, t_s: float) -> datetime:
    return start + timedelta(seconds=t_s)


async def _sample_node(config: NodeConfig, start: datetime, until_s: float) -> list[ReadingBatch]:
    """Read each sensor with the live simulated driver at ``start + k * interval``; group the readings by tick.

    A failed read (dropout fault) is left out, as the agent leaves it out, and the driver carries its previous
    read time, so a rain gauge's next reading holds the rain it missed.
    """
    from edge.drivers import DriverError, driver_class  # registers the simulated driver

    ticks: dict[float, list[Reading]] = {}
    for sensor in config.sensors:
        driver = driver_class(sensor.driver.type)(sensor.driver, sensor)
        await driver.open()
        unit = CANONICAL_UNITS[sensor.quantity]
        k = 0
        while (t := k * sensor.interval_s) <= until_s + 1e-9:
            k += 1
            now = _at(start, t)
            try:
                sample = await driver.read(now)
            except DriverError:
                continue
            if sample.value is None or not math.isfinite(sample.value):
                continue  # as the agent does: no usable value, nothing sent
            reading = Reading(
                sensor_id=sensor.id,
                quantity=sensor.quantity,
                value=sample.value,
                unit=unit,
                quality=sample.quality,
                ts=sample.ts or now,
            )
            ticks.setdefault(t, []).append(reading)
        await driver.close()
    return [ReadingBatch(t, _at(start, t), tuple(ticks[t])) for t in sorted(ticks)]


def _camera_events(scenario: ReplayScenario, start: datetime, nodes: set[str]) -> dict[str, list[CameraEvent]]:
    out: dict[str, list[CameraEvent]] = {}
    for i, spec in enumerate(scenario.camera_events):
        if spec.node not in nodes:
            continue  # left out by a nodes override
        top = spec.top_score if spec.top_score is not None else spec.score
        end_s = spec.start_s + spec.duration_s
        times = [spec.start_s]
        if spec.update_every_s:
            k = 1
            while (t := spec.start_s + k * spec.update_every_s) < end_s - 1e-9:
                times.append(t)
                k += 1
        times.append(end_s)
        begun = _at(start, spec.start_s)
        events = []
        best = 0.0
        for j, t in enumerate(times):
            # The score climbs from ``score`` to ``top_score`` as the fire grows; top_score is the best so far.
            score = round(spec.score + (top - spec.score) * (t - spec.start_s) / spec.duration_s, 4)
            best = max(best, score)
            phase = EventPhase.NEW if j == 0 else EventPhase.END if j == len(times) - 1 else EventPhase.UPDATE
            events.append(
                CameraEvent(
                    t_s=t,
                    ts=_at(start, t),
                    node_id=spec.node,
                    event_id=spec.event_id or f"{spec.camera}-{spec.label}-{i + 1}",
                    phase=phase,
                    camera=spec.camera,
                    label=spec.label,
                    score=score,
                    top_score=best,
                    box=spec.box,
                    zones=tuple(spec.zones),
                    start=begun,
                    end=_at(start, end_s) if phase is EventPhase.END else None,
                )
            )
        out.setdefault(spec.node, []).extend(events)
    for events in out.values():
        events.sort(key=lambda e: e.t_s)
    return out


def replay_configs(
    scenario: Scenario,
    start: datetime,
    *,
    seed: int | None = None,
    broker_host: str = "127.0.0.1",
    broker_port: int = 1883,
    data_dir: Path | str = Path("run/replay"),
    nodes_override: int | None = None,
    prefix: str | None = None,
) -> list[NodeConfig]:
    """The scenario's node configs on scenario time (time_scale 1, t=0 at ``start``): sensor intervals are the
    scenario's, which is what the hub's registry should hold for replayed nodes (write them as seed files)."""
    return build_node_configs(
        scenario,
        seed=seed,
        broker_host=broker_host,
        broker_port=broker_port,
        data_dir=data_dir,
        nodes_override=nodes_override,
        prefix=prefix,
        time_scale=1.0,
        start=start,
    )


def build_replay(
    scenario: Scenario,
    start: datetime,
    *,
    seed: int | None = None,
    broker_host: str = "127.0.0.1",
    broker_port: int = 1883,
    data_dir: Path | str = Path("run/replay"),
    nodes_override: int | None = None,
    prefix: str | None = None,
    until_s: float | None = None,
) -> Replay:
    """Sample the whole scenario (or up to ``until_s``) on scenario time from ``start`` (an aware datetime)."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware, e.g. 2026-10-27T00:00:00+07:00")
    duration = scenario.duration_s if until_s is None else min(until_s, scenario.duration_s)
    configs = replay_configs(
        scenario,
        start,
        seed=seed,
        broker_host=broker_host,
        broker_port=broker_port,
        data_dir=data_dir,
        nodes_override=nodes_override,
        prefix=prefix,
    )

    async def sample_all() -> dict[str, list[ReadingBatch]]:
        return {c.node_id: await _sample_node(c, start, duration) for c in configs}

    batches = asyncio.run(sample_all()) if not _loop_running() else _in_thread(sample_all)
    events: dict[str, list[CameraEvent]] = {}
    if isinstance(scenario, ReplayScenario):
        events = _camera_events(scenario, start, {c.node_id for c in configs})
        events = {n: [e for e in evs if e.t_s <= duration + 1e-9] for n, evs in events.items()}
    windows = link_loss_windows(scenario, seed=seed, nodes_override=nodes_override)
    link_loss = {n: [(a, min(b, duration)) for a, b in _merge(w) if a < duration] for n, w in windows.items()}
    return Replay(scenario, start, duration, configs, batches, events, {n: w for n, w in link_loss.items() if w})


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _in_thread(make: Callable[[], Any]) -> Any:
    """asyncio.run(make()) from a thread of its own (the caller is inside an event loop)."""
    box: Future[Any] = Future()
    t = threading.Thread(target=lambda: box.set_result(asyncio.run(make())), daemon=True)
    t.start()
    return box.result()


# -- publishing through edge agents ---------------------------------------------------------------------------
@dataclass
class _Step:
    t0: float
    t1: float
    items: dict[str, list[Item]]
    barrier: bool  # camera events: confirmed alone, nothing before or after them in flight


def plan_steps(replay: Replay, window_s: float) -> list[_Step]:
    """The replay cut into windows of ``window_s`` scenario seconds, camera events in steps of their own.

    An item goes out in the window of its release time (``Replay.release_s``): a node that lost its link sends
    what it sampled meanwhile, late and in one go, when the link comes back, as a real node drains its outbox.
    """
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    per_node = {n: [(replay.release_s(n, i.t_s), i) for i in replay.items(n)] for n in replay.node_ids}
    event_times = sorted({r for items in per_node.values() for r, i in items if isinstance(i, CameraEvent)})
    cuts: list[tuple[float, bool]] = []  # (time, is an event instant)
    t = window_s
    while t < replay.duration_s + window_s:
        cuts.append((t, False))
        t += window_s
    cuts += [(te, True) for te in event_times]
    cuts.sort(key=lambda c: (c[0], not c[1]))
    steps: list[_Step] = []
    pos = dict.fromkeys(per_node, 0)
    prev = 0.0
    for cut, is_event in cuts:
        readings: dict[str, list[Item]] = {}
        events: dict[str, list[Item]] = {}
        for n, items in per_node.items():
            i = pos[n]
            # Before an event: what is released up to and including its instant, readings only (at one instant
            # the readings go first); a window: everything released before its end.
            while i < len(items) and (
                (items[i][0] <= cut and isinstance(items[i][1], ReadingBatch)) if is_event else items[i][0] < cut
            ):
                readings.setdefault(n, []).append(items[i][1])
                i += 1
            if is_event:
                while i < len(items) and isinstance(items[i][1], CameraEvent) and items[i][0] <= cut:
                    events.setdefault(n, []).append(items[i][1])
                    i += 1
            pos[n] = i
        if readings:
            steps.append(_Step(prev, cut, readings, barrier=False))
        if events:
            steps.append(_Step(cut, cut, events, barrier=True))
        prev = cut
    rest = {n: [i for _, i in items[pos[n] :]] for n, items in per_node.items() if pos[n] < len(items)}
    if rest:
        steps.append(_Step(prev, replay.duration_s, rest, barrier=False))
    return steps


def _payloads(agent: Agent, items: Sequence[Item]) -> list[tuple[str, Callable[[int], bytes]]]:
    """Outbox entries for ``items``: telemetry chunked as ``Agent.record`` does it, events as event messages."""
    cfg = agent.config
    size = cfg.max_readings_per_message
    telemetry, event_topic = agent.topics.telemetry(cfg.node_id), agent.topics.event(cfg.node_id)
    out: list[tuple[str, Callable[[int], bytes]]] = []
    for item in items:
        if isinstance(item, CameraEvent):

            def build_event(seq: int, ev: CameraEvent = item) -> bytes:
                return ev.message(seq).model_dump_json(exclude_none=True).encode()

            out.append((event_topic, build_event))
            continue
        readings = list(item.readings)
        for i in range(0, len(readings), size):

            def build(seq: int, chunk: list[Reading] = readings[i : i + size], ts: datetime = item.ts) -> bytes:
                msg = TelemetryMessage(node_id=cfg.node_id, seq=seq, ts=ts, readings=chunk)
                return msg.model_dump_json(exclude_none=True).encode()

            out.append((telemetry, build))
    return out


class ReplayError(RuntimeError):
    """The replay could not be delivered (a node failed, or its outbox did not drain in time)."""


@dataclass
class ReplayState:
    """Where a running replay stands; read from other threads (plain attributes, replaced whole)."""

    t_s: float = 0.0  # scenario time written to the outboxes so far
    steps_done: int = 0
    steps: int = 0
    messages: int = 0
    readings: int = 0
    events: int = 0
    done: bool = False


def publish_config(
    config: NodeConfig, confirm_timeout_s: float = 5.0, window: int = 500, confirm: Confirm | None = None
) -> NodeConfig:
    """The node's config for a replay agent: no sensors (nothing is sampled live), a fast-resending outbox;
    ``confirm`` overrides the outbox's confirmation mode (hub: end to end, the default; broker: PUBACK)."""
    update: dict[str, Any] = {"synchronous": "NORMAL", "confirm_timeout_s": confirm_timeout_s}
    if confirm is not None:
        update["confirm"] = confirm
    outbox = config.outbox.model_copy(update=update)
    mqtt = config.mqtt.model_copy(update={"window": window, "reconnect_min_s": 0.1, "reconnect_max_s": 2.0})
    return config.model_copy(update={"sensors": [], "outbox": outbox, "mqtt": mqtt})


async def publish_replay(
    replay: Replay,
    *,
    window_s: float = 3 * 3600.0,
    lead_steps: int = 4,
    drain_timeout_s: float = 120.0,
    confirm_timeout_s: float = 5.0,
    confirm: Confirm | None = None,
    stop: asyncio.Event | None = None,
    progress: Progress | None = None,
    progress_every_s: float = 2.0,
    state: ReplayState | None = None,
) -> dict[str, Any]:
    """Deliver the replay through one edge Agent per node (real outbox, real MQTT link); return a summary.

    Step k is written to the outboxes once every node has had steps up to k - ``lead_steps`` confirmed, so the
    nodes stay within a few windows of each other and the outboxes stay small; a camera event waits for
    everything before it, and everything after it waits for the event. Confirmed means removed from the outbox:
    acknowledged by the hub (``outbox.confirm: hub``, the default: a hub must be running) or, with ``confirm=
    Confirm.BROKER``, by the broker. Raises ReplayError when an agent dies or an outbox does not drain within
    ``drain_timeout_s``.
    """
    from edge.agent import Agent  # here, so the rest of the simulator imports without the edge agent

    loop = asyncio.get_running_loop()
    state = state or ReplayState()
    steps = plan_steps(replay, window_s)
    state.steps = len(steps)
    agents = {c.node_id: Agent(publish_config(c, confirm_timeout_s, confirm=confirm)) for c in replay.configs}
    halt = asyncio.Event()
    tasks = {nid: asyncio.create_task(a.run(halt), name=f"replay:{nid}") for nid, a in agents.items()}
    stop = stop or asyncio.Event()
    last_seq: list[dict[str, int]] = []  # per step: node -> highest seq written
    t0 = loop.time()
    next_report = t0 + progress_every_s
    stopped_early = False

    def check_agents() -> None:
        for nid, task in tasks.items():
            if task.done():
                exc = None if task.cancelled() else task.exception()
                raise ReplayError(f"node {nid} stopped: {exc!r}" if exc else f"node {nid} stopped")

    def confirmed_through(nid: str) -> int:
        """Every message of the node with a seq up to this is confirmed (gone from the outbox)."""
        oldest = agents[nid].outbox.after(0, 1)
        return oldest[0].seq - 1 if oldest else 1 << 62

    async def wait_confirmed(targets: dict[str, int], what: str) -> bool:
        """Poll (with a deadline) until each node has confirmed up to its target seq; False when stopped."""
        deadline = loop.time() + drain_timeout_s
        while True:
            check_agents()
            behind = {n: s for n, s in targets.items() if confirmed_through(n) < s}
            if not behind:
                return True
            if stop.is_set():
                return False
            if loop.time() > deadline:
                depth = {n: agents[n].outbox.depth for n in behind}
                raise ReplayError(f"outboxes not drained in {drain_timeout_s:g} s ({what}): depth {depth}")
            await asyncio.sleep(0.005)

    def report(final: bool = False) -> None:
        if progress is None:
            return
        depth = sum(a.outbox.depth for a in agents.values())
        sent = sum(a.link.counters["sent"] for a in agents.values())
        progress(
            f"[{loop.time() - t0:6.1f} s] scenario +{state.t_s / 3600:6.1f} h of {replay.duration_s / 3600:.1f} h, "
            f"messages {state.messages} ({sent} sent), readings {state.readings}, events {state.events}, "
            f"outbox {depth}" + (" - done" if final else "")
        )

    try:
        for k, step in enumerate(steps):
            if stop.is_set():
                stopped_early = True
                break
            if step.barrier:
                if last_seq and not await wait_confirmed(last_seq[-1], "before an event"):
                    stopped_early = True
                    break
            elif k >= lead_steps and not await wait_confirmed(last_seq[k - lead_steps], "backpressure"):
                stopped_early = True
                break
            written: dict[str, int] = dict(last_seq[-1]) if last_seq else {}
            for nid, items in step.items.items():
                agent = agents[nid]
                payloads = _payloads(agent, items)
                seqs = agent.outbox.enqueue_many(payloads)
                good = [s for s in seqs if s is not None]
                if len(good) != len(seqs):
                    raise ReplayError(f"node {nid}: the outbox refused {len(seqs) - len(good)} messages (full)")
                written[nid] = max(good)
                n_readings = sum(len(i.readings) for i in items if isinstance(i, ReadingBatch))
                agent.counters["messages"] += len(good)
                agent.counters["readings"] += n_readings
                agent.link.kick()
                state.messages += len(good)
                state.readings += n_readings
                state.events += sum(1 for i in items if isinstance(i, CameraEvent))
            last_seq.append(written)
            if step.barrier and not await wait_confirmed(written, "an event"):
                stopped_early = True
                break
            state.t_s = step.t1
            state.steps_done = k + 1
            if loop.time() >= next_report:
                report()
                next_report = loop.time() + progress_every_s
        else:
            if last_seq and not await wait_confirmed(last_seq[-1], "the end"):
                stopped_early = True
        state.t_s = replay.duration_s if not stopped_early else state.t_s
        report(final=True)
        return {
            "scenario": replay.scenario.name,
            "start": replay.start.isoformat(),
            "scenario_s": state.t_s,
            "wall_s": round(loop.time() - t0, 3),
            "nodes": len(agents),
            "messages": state.messages,
            "readings": state.readings,
            "events": state.events,
            "stopped_early": stopped_early,
            "link": {nid: dict(a.link.counters) for nid, a in agents.items()},
        }
    finally:
        state.done = True
        halt.set()
        _, pending = await asyncio.wait(list(tasks.values()), timeout=15)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class ReplayThread:
    """``publish_replay`` on an event loop of its own thread, for synchronous callers (tests, benchmarks).

    ``state.t_s`` says how far the replay has got; ``join()`` returns the summary or raises what it raised.
    """

    def __init__(self, replay: Replay, **kwargs: Any) -> None:
        self.replay = replay
        self.kwargs = kwargs
        self.state = ReplayState()
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._result: Future[dict[str, Any]] = Future()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="replay", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def body() -> dict[str, Any]:
            self._stop = asyncio.Event()
            self._started.set()
            return await publish_replay(self.replay, stop=self._stop, state=self.state, **self.kwargs)

        try:
            self._result.set_result(self.loop.run_until_complete(body()))
        except BaseException as exc:
            self._result.set_exception(exc)
        finally:
            self._started.set()
            self.loop.close()

    def start(self) -> ReplayThread:
        self._thread.start()
        if not self._started.wait(30):
            raise TimeoutError("replay thread did not start")
        return self

    @property
    def done(self) -> bool:
        return self._result.done()

    def join(self, timeout: float | None = None) -> dict[str, Any]:
        return self._result.result(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._stop is not None and not self._result.done():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._stop.set)
        with contextlib.suppress(Exception):
            self._result.result(timeout)


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
