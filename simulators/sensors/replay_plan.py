"""Building a replay on scenario time: per node, the sampled reading batches and scripted camera events."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulators.sensors.runner import _merge
from simulators.sensors.scenario import Scenario, build_node_configs, link_loss_windows
from wire import CANONICAL_UNITS, EventMessage, Reading
from wire.messages import EventPhase
from wire.nodeconfig import NodeConfig

# Scenario files may script camera events; only a replay plays them (the live runner has no camera yet).
ReplayScenario = Scenario


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
