"""Publishing a replay through one edge Agent per node, step by step, camera events as barriers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulators.sensors.replay_plan import CameraEvent, Item, ReadingBatch, Replay
from wire import Reading, TelemetryMessage
from wire.nodeconfig import Confirm, NodeConfig

if TYPE_CHECKING:
    from edge.agent import Agent

Progress = Callable[[str], None]


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

    state = state or ReplayState()
    steps = plan_steps(replay, window_s)
    state.steps = len(steps)
    agents = {
        c.node_id: await asyncio.to_thread(Agent.open, publish_config(c, confirm_timeout_s, confirm=confirm))
        for c in replay.configs
    }
    halt = asyncio.Event()
    tasks = {nid: asyncio.create_task(a.run(halt), name=f"replay:{nid}") for nid, a in agents.items()}
    publisher = _Publisher(
        replay, agents, tasks, stop or asyncio.Event(), state, drain_timeout_s, progress, progress_every_s
    )
    try:
        stopped_early = await publisher.publish(steps, lead_steps)
        state.t_s = replay.duration_s if not stopped_early else state.t_s
        publisher.report(final=True)
        return publisher.summary(stopped_early)
    finally:
        state.done = True
        halt.set()
        _, pending = await asyncio.wait(list(tasks.values()), timeout=15)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class _Publisher:
    """One replay's steps written to its agents' outboxes, each step once what it must follow is confirmed."""

    def __init__(
        self,
        replay: Replay,
        agents: dict[str, Agent],
        tasks: dict[str, asyncio.Task[None]],
        stop: asyncio.Event,
        state: ReplayState,
        drain_timeout_s: float,
        progress: Progress | None,
        progress_every_s: float,
    ) -> None:
        self.replay = replay
        self.agents = agents
        self.tasks = tasks
        self.stop = stop
        self.state = state
        self.drain_timeout_s = drain_timeout_s
        self.progress = progress
        self.progress_every_s = progress_every_s
        self.loop = asyncio.get_running_loop()
        self.last_seq: list[dict[str, int]] = []  # per step: node -> highest seq written
        self.t0 = self.loop.time()
        self.next_report = self.t0 + progress_every_s

    async def publish(self, steps: list[_Step], lead_steps: int) -> bool:
        """Write the steps in turn and wait for the last to be confirmed; True when stopped early."""
        for k, step in enumerate(steps):
            if self.stop.is_set():
                return True
            if not await self._may_write(k, step, lead_steps):
                return True
            written = self._write(step)
            self.last_seq.append(written)
            if step.barrier and not await self.wait_confirmed(written, "an event"):
                return True
            self.state.t_s = step.t1
            self.state.steps_done = k + 1
            if self.loop.time() >= self.next_report:
                self.report()
                self.next_report = self.loop.time() + self.progress_every_s
        return bool(self.last_seq) and not await self.wait_confirmed(self.last_seq[-1], "the end")

    async def _may_write(self, k: int, step: _Step, lead_steps: int) -> bool:
        """Wait until step ``k`` may be written; False when stopped meanwhile."""
        if step.barrier:
            # A camera event goes alone: everything written before it is confirmed first.
            return not self.last_seq or await self.wait_confirmed(self.last_seq[-1], "before an event")
        # Back-pressure: at most ``lead_steps`` steps ahead of what every node has confirmed.
        return k < lead_steps or await self.wait_confirmed(self.last_seq[k - lead_steps], "backpressure")

    def _write(self, step: _Step) -> dict[str, int]:
        """Put a step into the outboxes: the highest seq written per node, as of this step."""
        written: dict[str, int] = dict(self.last_seq[-1]) if self.last_seq else {}
        for nid, items in step.items.items():
            written[nid] = self._enqueue(nid, items)
        return written

    def _enqueue(self, nid: str, items: list[Item]) -> int:
        agent = self.agents[nid]
        payloads = _payloads(agent, items)
        seqs = agent.outbox.enqueue_many(payloads)
        good = [s for s in seqs if s is not None]
        if len(good) != len(seqs):
            raise ReplayError(f"node {nid}: the outbox refused {len(seqs) - len(good)} messages (full)")
        highest = max(good)
        n_readings = sum(len(i.readings) for i in items if isinstance(i, ReadingBatch))
        agent.counters["messages"] += len(good)
        agent.counters["readings"] += n_readings
        agent.link.kick()
        self.state.messages += len(good)
        self.state.readings += n_readings
        self.state.events += sum(1 for i in items if isinstance(i, CameraEvent))
        return highest

    def check_agents(self) -> None:
        for nid, task in self.tasks.items():
            if task.done():
                exc = None if task.cancelled() else task.exception()
                raise ReplayError(f"node {nid} stopped: {exc!r}" if exc else f"node {nid} stopped")

    def confirmed_through(self, nid: str) -> int:
        """Every message of the node with a seq up to this is confirmed (gone from the outbox)."""
        oldest = self.agents[nid].outbox.after(0, 1)
        return oldest[0].seq - 1 if oldest else 1 << 62

    async def wait_confirmed(self, targets: dict[str, int], what: str) -> bool:
        """Poll (with a deadline) until each node has confirmed up to its target seq; False when stopped."""
        deadline = self.loop.time() + self.drain_timeout_s
        while True:
            self.check_agents()
            behind = {n: s for n, s in targets.items() if self.confirmed_through(n) < s}
            if not behind:
                return True
            if self.stop.is_set():
                return False
            if self.loop.time() > deadline:
                depth = {n: self.agents[n].outbox.depth for n in behind}
                raise ReplayError(f"outboxes not drained in {self.drain_timeout_s:g} s ({what}): depth {depth}")
            await asyncio.sleep(0.005)

    def report(self, final: bool = False) -> None:
        if self.progress is None:
            return
        state = self.state
        depth = sum(a.outbox.depth for a in self.agents.values())
        sent = sum(a.link.counters["sent"] for a in self.agents.values())
        self.progress(
            f"[{self.loop.time() - self.t0:6.1f} s] scenario +{state.t_s / 3600:6.1f} h of "
            f"{self.replay.duration_s / 3600:.1f} h, messages {state.messages} ({sent} sent), readings "
            f"{state.readings}, events {state.events}, outbox {depth}" + (" - done" if final else "")
        )

    def summary(self, stopped_early: bool) -> dict[str, Any]:
        return {
            "scenario": self.replay.scenario.name,
            "start": self.replay.start.isoformat(),
            "scenario_s": self.state.t_s,
            "wall_s": round(self.loop.time() - self.t0, 3),
            "nodes": len(self.agents),
            "messages": self.state.messages,
            "readings": self.state.readings,
            "events": self.state.events,
            "stopped_early": stopped_early,
            "link": {nid: dict(a.link.counters) for nid, a in self.agents.items()},
        }


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
