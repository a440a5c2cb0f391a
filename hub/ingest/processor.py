"""Turning one MQTT message into what the store needs: points, registry updates, dead letters, acks.

Pure with respect to I/O: it fills a Batch, and the writer makes the batch durable.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from hub.alerts.evaluate.base import Observation
from hub.ingest.dedupe import SeqTracker
from hub.quality.checker import GOOD, QualityChecker, Verdict
from hub.quality.flags import Flag
from hub.store.line_protocol import line
from hub.store.state import DeadLetter, NodeInfo
from wire import Channel, EventMessage, Quantity, StatusMessage, TelemetryMessage, TopicParts, Topics
from wire.messages import IDENTIFIER_PATTERN, Reading, _NodeMessage, describe_error, parse_message, to_epoch_ms
from wire.timepolicy import DEFAULT_MAX_AGE, MAX_AHEAD, time_problem


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Times remembered per sensor to catch a second value for a time already stored (a node whose clock stepped back):
# InfluxDB keeps one point per series and time, so the second would silently replace the first.
RECENT_PER_SENSOR = 256
# The ids in a snapshot topic obey the same rule as those in a JSON message: wire.messages.Identifier's pattern.
IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"

# What a reading's line carries (docs/scaling.md, "Cluster mode"). "all": value, quality flag, qc check, seq (one
# hub). In a cluster the flag is the leader's alone, since only it sees each sensor's whole series: the ingest hubs
# store "values" (value and seq, no flag, so a late ingest write can never overwrite the leader's verdict) and the
# leader's processor makes "quality" lines (flag and check only, on the reading's series and time; InfluxDB merges
# the two writes into one point whichever lands first) into ``Batch.qc_lines``.
ReadingFields = Literal["all", "values", "quality"]


@dataclass
class Batch:
    """Everything received since the last flush. Acknowledged to the broker only once durable."""

    created: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)
    mids: list[tuple[int, int]] = field(default_factory=list)  # (connection generation, mid)
    node_seqs: dict[str, list[int]] = field(default_factory=dict)  # for the end-to-end acks to nodes
    dead_letters: list[DeadLetter] = field(default_factory=list)
    seen: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, tuple[str, str]] = field(default_factory=dict)
    sensor_values: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    dedupe_dirty: set[str] = field(default_factory=set)
    # Tracker state as of the last message in this batch, taken when the batch is cut: persisting the live state
    # instead would mark messages of the next, not yet durable batch as seen.
    dedupe_snapshot: dict[str, tuple[int, list[int]]] = field(default_factory=dict)
    device_ts_ms: list[int] = field(default_factory=list)  # oldest reading per message, for latency metrics
    observations: list[Observation] = field(default_factory=list)  # readings the alert engine watches
    status_changes: list[tuple[str, str, datetime]] = field(default_factory=list)
    events: list[EventMessage] = field(default_factory=list)
    # Latest camera snapshot per (node, camera, label): (time received, JPEG bytes). Raw JPEG has no sequence number,
    # so snapshots are neither deduplicated nor acked to nodes; the broker still gets its ack with the batch.
    snapshots: dict[tuple[str, str, str], tuple[float, bytes]] = field(default_factory=dict)
    tick: bool = False  # run the engine's time-driven rules with this batch
    # Engine work handed in by the hub's periodic jobs (completeness, forecasts): run on the writer thread like the
    # rest of the engine, so their alarm lines take the same store-then-acknowledge path.
    jobs: list[Callable[[], list[str]]] = field(default_factory=list)
    engine_lines: bool = False  # holds lines the engine keeps pending until they are stored
    messages: int = 0
    readings: int = 0
    duplicates: int = 0
    future_ts: int = 0  # readings and messages refused for a timestamp ahead of the hub clock
    stale_ts: int = 0  # ... and for one older than the hub accepts
    refused_readings: int = 0  # readings dead-lettered out of otherwise good messages
    repeated_readings: int = 0  # the same (node, sensor, time, value) again from another message: not rewritten
    time_conflicts: int = 0  # the same (node, sensor, time) with another value: refused, the first value kept
    unchecked_late: int = 0  # older than a sensor's remembered times: stored without the repeat check
    flagged: dict[str, int] = field(default_factory=dict)  # readings the hub's quality control flagged, per check
    revisions: int = 0  # earlier readings re-flagged (a spike or a flat line seen late)
    qc_lines: list[str] = field(default_factory=list)  # reading_fields "quality": the flags, revisions included


_MAX_AHEAD_MS = MAX_AHEAD // timedelta(milliseconds=1)


def _unregistered(known: dict[str, str] | None, r: Reading, node_id: str) -> str:
    """Why the registry refuses a reading: an unknown sensor, or one registered as another quantity."""
    quantity = (known or {}).get(r.sensor_id)
    if quantity is None:
        return f"unknown sensor {r.sensor_id!r} of {node_id}"
    return f"sensor {r.sensor_id!r} is registered as {quantity}, not {r.quantity.value}"


def _revised(obs: Observation, ts_ms: int, verdict: Verdict) -> Observation:
    """A held observation as the next reading's verdict left it (a spike now, or good after all)."""
    for rev in verdict.revised:
        if to_epoch_ms(rev.start) <= ts_ms <= to_epoch_ms(rev.end) and rev.flag > Flag(obs.flag):
            return replace(obs, flag=rev.flag.value, check=rev.check.value)
    return obs


class Processor:
    """Validates and converts messages; keeps the dedupe trackers. Used from the MQTT thread only."""

    def __init__(
        self,
        topics: Topics,
        nodes: dict[str, NodeInfo],
        *,
        accept_unknown_nodes: bool = False,
        max_payload_bytes: int = 256 * 1024,
        dedupe_state: dict[str, tuple[int, list[int]]] | None = None,
        watches: Callable[[str, str, str], bool] | None = None,
        max_age: timedelta = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
        quality: QualityChecker | None = None,
        reading_fields: ReadingFields = "all",
    ) -> None:
        self.topics = topics
        self.quality = quality
        self.reading_fields = reading_fields
        # Provisional readings (a jump the next reading may show to be a spike) held back from the alert engine
        # until that reading or the spike window's end: (node, sensor) -> (observation, ts_ms, release by, s).
        self._held: dict[tuple[str, str], tuple[Observation, int, float]] = {}
        self.max_age = max_age
        self._max_age_ms = max_age // timedelta(milliseconds=1)
        self.clock = clock
        self.nodes = nodes
        self.accept_unknown_nodes = accept_unknown_nodes
        self.max_payload_bytes = max_payload_bytes
        self.watches = watches
        self.trackers: dict[str, SeqTracker] = {
            node: SeqTracker(floor, recent) for node, (floor, recent) in (dedupe_state or {}).items()
        }
        self._prefixes: dict[tuple[Quantity, str, str, str], str] = {}
        self._topic_cache: dict[str, TopicParts] = {}
        self._recent: dict[tuple[str, str], dict[int, float]] = {}  # (node, sensor) -> {ts_ms: value}, oldest first
        self._sensor_index = {
            node_id: {sid: quantity for sid, quantity, _ in info.sensors} for node_id, info in nodes.items()
        }

    def _prefix(self, key: tuple[Quantity, str, str, str]) -> str:
        """Measurement, tags and the start of the fields: the same for every reading of one sensor."""
        if len(self._prefixes) > 100_000:
            self._prefixes.clear()
        quantity, admin, node_id, sensor_id = key
        tags = {"admin_code": admin, "node_id": node_id, "sensor_id": sensor_id}
        prefix = line(quantity.value, tags, {"value": 0.0}, 0).rsplit(" ", 1)[0].removesuffix("0.0")
        self._prefixes[key] = prefix
        return prefix

    def dedupe_state(self, node_ids: set[str]) -> dict[str, tuple[int, list[int]]]:
        return {n: self.trackers[n].state() for n in node_ids if n in self.trackers}

    def _dead(self, batch: Batch, topic: str, payload: bytes, reason: str) -> None:
        batch.dead_letters.append(DeadLetter(topic, reason, payload, time.time()))

    def handle(self, topic: str, payload: bytes, batch: Batch) -> None:
        """Put one message into ``batch``; never raises for bad input."""
        batch.messages += 1
        decoded = self.decode(topic, payload, batch)
        if decoded is not None:
            self.accept(decoded[0], decoded[1], topic, payload, batch)

    def decode(self, topic: str, payload: bytes, batch: Batch) -> tuple[TopicParts, _NodeMessage] | None:
        """The first half of ``handle``: the topic and the validated message of a node, or None for a message that
        is dead-lettered here (size, topic, schema), ignored (our own configs and acks) or a snapshot (kept in
        ``batch``). Lets a caller look at the message's node and sequence before ``accept`` (hub/alerts/source.py)."""
        if len(payload) > self.max_payload_bytes:
            self._dead(batch, topic, payload, f"payload of {len(payload)} bytes exceeds {self.max_payload_bytes}")
            return None
        try:
            parts = self._topic_cache.get(topic)
            if parts is None:
                parts = self._parse_topic(topic)
            if parts.channel in (Channel.CONFIG, Channel.ACK):
                return None  # our own messages to nodes, seen through a wide subscription
            if parts.channel is Channel.SNAPSHOT:
                self._snapshot(parts, topic, payload, batch)
                return None
            msg = parse_message(parts.channel, payload)
        except (ValidationError, ValueError) as exc:
            self._dead(batch, topic, payload, describe_error(exc))
            return None
        return parts, msg

    def accept(self, parts: TopicParts, msg: _NodeMessage, topic: str, payload: bytes, batch: Batch) -> None:
        """The second half of ``handle``: admit a decoded message (node, dedupe, time) and add what it carries."""
        admin = self._admit(msg, parts, topic, payload, batch)
        if admin is None:
            return
        if isinstance(msg, TelemetryMessage):
            self._telemetry(msg, admin, topic, payload, batch)
        elif isinstance(msg, StatusMessage):
            self._status(msg, admin, batch)
        elif isinstance(msg, EventMessage):
            self._event(msg, admin, batch)

    def _parse_topic(self, topic: str) -> TopicParts:
        """Parse a topic not seen before and remember it: nodes publish on the same few topics again and again."""
        parts = self.topics.parse(topic)  # raises for a bad topic, which is then not cached
        if len(self._topic_cache) > 100_000:
            self._topic_cache.clear()
        self._topic_cache[topic] = parts
        return parts

    def _admit(self, msg: _NodeMessage, parts: TopicParts, topic: str, payload: bytes, batch: Batch) -> str | None:
        """The node's admin code for a message to store; None for one that is dead-lettered or a duplicate."""
        if msg.node_id != parts.node_id:
            self._dead(batch, topic, payload, f"node_id {msg.node_id!r} does not match topic node {parts.node_id!r}")
            return None
        node = self.nodes.get(msg.node_id)
        if node is None and not self.accept_unknown_nodes:
            self._dead(batch, topic, payload, f"unknown node {msg.node_id!r}: not in the hub's registry")
            batch.node_seqs.setdefault(msg.node_id, []).append(msg.seq)
            return None
        tracker = self.trackers.get(msg.node_id)
        if tracker is None:
            tracker = self.trackers[msg.node_id] = SeqTracker()
        batch.node_seqs.setdefault(msg.node_id, []).append(msg.seq)
        if not tracker.add(msg.seq):
            batch.duplicates += 1
            return None
        now_ms = int(self.clock() * 1000)
        problem = time_problem(to_epoch_ms(msg.ts), now_ms, self.max_age)
        if problem is not None:
            # The whole message: its readings default to this clock, and a status or event from a wrong clock would
            # move the node's state to a time that has not come.
            self._count_time(batch, to_epoch_ms(msg.ts), now_ms)
            batch.dedupe_dirty.add(msg.node_id)
            self._dead(batch, topic, payload, problem)
            return None
        batch.dedupe_dirty.add(msg.node_id)
        batch.seen[msg.node_id] = time.time()
        return node.admin_code if node and node.admin_code else ""

    def _snapshot(self, parts: TopicParts, topic: str, payload: bytes, batch: Batch) -> None:
        """A camera's JPEG, kept as the latest of its (node, camera, label); not a time series."""
        node_id = parts.node_id
        if not IDENTIFIER.fullmatch(node_id):
            self._dead(batch, topic, payload, f"snapshot topic: node id {node_id!r} is not a valid identifier")
            return
        if node_id not in self.nodes and not self.accept_unknown_nodes:
            self._dead(batch, topic, payload, f"unknown node {node_id!r}: not in the hub's registry")
            return
        if len(parts.rest) != 2:
            self._dead(
                batch,
                topic,
                payload,
                f"snapshot topic needs exactly <camera>/<label> after 'snapshot', got {'/'.join(parts.rest)!r}",
            )
            return
        camera, label = parts.rest
        for what, value in (("camera", camera), ("label", label)):
            if not IDENTIFIER.fullmatch(value):
                self._dead(batch, topic, payload, f"snapshot topic: {what} {value!r} is not a valid identifier")
                return
        if len(payload) < 4 or not payload.startswith(JPEG_START) or not payload.endswith(JPEG_END):
            self._dead(batch, topic, payload, "snapshot is not a JPEG (must start with FF D8 and end with FF D9)")
            return
        batch.snapshots[(node_id, camera, label)] = (time.time(), payload)

    def _repeat(self, node_id: str, sensor_id: str, ts_ms: int, value: float, batch: Batch) -> str | bool:
        """False: a new time for this sensor. True: the same value at the same time again (not rewritten). A str:
        why a second, different value for a time already stored is refused."""
        seen = self._recent.get((node_id, sensor_id))
        if seen is None:
            if len(self._recent) > 200_000:  # a bound on what hostile sensor ids can make the hub remember
                self._recent.clear()
            seen = self._recent[(node_id, sensor_id)] = {}
        before = seen.get(ts_ms)
        if before is not None:
            if before == value:
                batch.repeated_readings += 1
                return True
            batch.time_conflicts += 1
            return (
                f"sensor {sensor_id!r} already has {before!r} at {_iso_ms(ts_ms)}; a second value ({value!r}) for the "
                "same time is refused and the first kept (has the node's clock stepped back?)"
            )
        if seen and ts_ms < next(iter(seen)):
            batch.unchecked_late += 1  # older than what is remembered: written as is, counted
        seen[ts_ms] = value
        if len(seen) > RECENT_PER_SENSOR:
            del seen[next(iter(seen))]
        return False

    def _count_time(self, batch: Batch, ts_ms: int, now_ms: int) -> None:
        if ts_ms > now_ms:
            batch.future_ts += 1
        else:
            batch.stale_ts += 1

    def _telemetry(self, msg: TelemetryMessage, admin: str, topic: str, payload: bytes, batch: Batch) -> None:
        known = self._sensor_index.get(msg.node_id)
        msg_ms = to_epoch_ms(msg.ts)
        oldest = msg_ms
        now_ms = int(self.clock() * 1000)
        # The accepted window (wire/timepolicy.py), so that only a reading outside it pays for the words why.
        oldest_ok, newest_ok = now_ms - self._max_age_ms, now_ms + _MAX_AHEAD_MS
        problems: list[str] = []  # one dead letter per message, naming every refused reading
        check_registry = known is not None and not self.accept_unknown_nodes
        node_id, quality, fields = msg.node_id, self.quality, self.reading_fields
        # Enum members are used as the strings they are (StrEnum): ``.value`` is a slow descriptor on this path.
        for i, r in enumerate(msg.readings):
            if check_registry and known.get(r.sensor_id) != r.quantity:  # type: ignore[union-attr]
                problems.append(f"readings.{i}: {_unregistered(known, r, node_id)}")
                continue
            ts_ms = msg_ms if r.ts is None or r.ts == msg.ts else to_epoch_ms(r.ts)
            if not oldest_ok <= ts_ms <= newest_ok and (problem := time_problem(ts_ms, now_ms, self.max_age)):
                self._count_time(batch, ts_ms, now_ms)
                problems.append(f"readings.{i}.ts: {problem}")
                continue
            conflict = self._repeat(node_id, r.sensor_id, ts_ms, r.value, batch)
            if conflict is True:
                continue
            if conflict:
                problems.append(f"readings.{i}: {conflict}")
                continue
            if ts_ms < oldest:
                oldest = ts_ms
            key = (r.quantity, admin, node_id, r.sensor_id)
            prefix = self._prefixes.get(key)
            if prefix is None:
                prefix = self._prefix(key)
            verdict = GOOD if quality is None else quality.check_ms(node_id, r.sensor_id, r.quantity, ts_ms, r.value)
            flag: str = r.quality
            check = None
            if verdict is not GOOD:
                flag, check = self._flagged(verdict, flag, prefix, key, batch)
            qc = "" if check is None else f',qc="{check}"'
            if fields == "all":
                # The model guarantees a finite float, so repr() is valid line protocol.
                batch.lines.append(f'{prefix}{r.value!r},quality="{flag}"{qc},seq={msg.seq}i {ts_ms}')
            else:
                self._cluster_line(fields, prefix, r.value, flag, qc, msg.seq, ts_ms, batch)
            batch.sensor_values[(node_id, r.sensor_id)] = (ts_ms / 1000, r.value)
            if self.watches is not None and self.watches(node_id, r.sensor_id, r.quantity):
                obs = Observation(node_id, r.sensor_id, r.quantity, r.ts or msg.ts, r.value, flag, check)
                self._observe(obs, ts_ms, verdict, batch)
            batch.readings += 1
        if problems:
            batch.refused_readings += len(problems)
            shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            self._dead(batch, topic, payload, f"{len(problems)} of {len(msg.readings)} readings refused: {shown}")
        batch.device_ts_ms.append(oldest)

    @staticmethod
    def _cluster_line(
        fields: ReadingFields, prefix: str, value: float, flag: str, qc: str, seq: int, ts_ms: int, batch: Batch
    ) -> None:
        """A reading's line in cluster mode: the value on the ingest hubs, the flag on the leader."""
        if fields == "values":
            batch.lines.append(f"{prefix}{value!r},seq={seq}i {ts_ms}")
        else:
            batch.qc_lines.append(f'{prefix.removesuffix(" value=")} quality="{flag}"{qc} {ts_ms}')

    def _flagged(
        self,
        verdict: Verdict,
        node_flag: str,
        prefix: str,
        key: tuple[Quantity, str, str, str],
        batch: Batch,
    ) -> tuple[str, str | None]:
        """The stored flag (the worse of the node's and the hub's) and the ``qc`` field naming the hub's check;
        re-flags earlier readings a revision names, as extra lines on their series and times (InfluxDB merges the
        fields of one series and time, so the value stays and the flag changes)."""
        if verdict.revised:
            series = prefix.removesuffix(" value=")
            seen = self._recent.get((key[2], key[3]), {})
            out = batch.qc_lines if self.reading_fields == "quality" else batch.lines
            for rev in verdict.revised:
                start, end = to_epoch_ms(rev.start), to_epoch_ms(rev.end)
                for t in seen:
                    if start <= t <= end:
                        out.append(f'{series} quality="{rev.flag.value}",qc="{rev.check.value}" {t}')
                        batch.revisions += 1
        if verdict.check is None:
            return node_flag, None
        batch.flagged[verdict.check.value] = batch.flagged.get(verdict.check.value, 0) + 1
        return max(verdict.flag, Flag(node_flag)).value, verdict.check.value

    def _observe(self, obs: Observation, ts_ms: int, verdict: Verdict, batch: Batch) -> None:
        """Hand a watched sensor's reading to the alert engine, holding back one that may yet prove a spike."""
        sensor = (obs.node_id, obs.sensor_id)
        held = self._held.get(sensor)
        if held is not None and ts_ms > held[1]:
            del self._held[sensor]
            batch.observations.append(_revised(held[0], held[1], verdict))
        if verdict.provisional and obs.flag == "good" and self.quality is not None:
            window = self.quality.spike_window_s(obs.node_id, obs.sensor_id, obs.quantity)
            if window is not None and sensor not in self._held:
                self._held[sensor] = (obs, ts_ms, self.clock() + window)
                return
        batch.observations.append(obs)

    def held_state(self) -> list[dict[str, Any]]:
        """The readings held back as possible spikes, as JSON: a cluster leader commits them with each batch (their
        messages are acknowledged with it), and the next leader restores them (``restore_held``), so a reading
        held when the leader dies is still evaluated."""
        return [
            {
                "node_id": obs.node_id,
                "sensor_id": obs.sensor_id,
                "quantity": str(obs.quantity),
                "ts": obs.ts.isoformat(),
                "value": obs.value,
                "flag": obs.flag,
                "check": obs.check,
                "ts_ms": ts_ms,
                "by": by,
            }
            for obs, ts_ms, by in self._held.values()
        ]

    def restore_held(self, items: list[dict[str, Any]]) -> int:
        """Hold again what ``held_state`` gave (a new cluster leader); released by the next reading of the sensor
        or at the same wall-clock time as before. Returns how many."""
        for item in items:
            obs = Observation(
                item["node_id"],
                item["sensor_id"],
                item["quantity"],
                datetime.fromisoformat(item["ts"]),
                float(item["value"]),
                item["flag"],
                item["check"],
            )
            self._held[(obs.node_id, obs.sensor_id)] = (obs, int(item["ts_ms"]), float(item["by"]))
        return len(items)

    def held_due(self, now: float | None = None) -> bool:
        """Whether a held reading's spike window has ended (a feed with no new message must still cut a batch)."""
        if not self._held:
            return False
        now = self.clock() if now is None else now
        return any(by <= now for _obs, _ts, by in self._held.values())

    def release_held(self, batch: Batch, now: float | None = None) -> int:
        """Hand over held readings whose next neighbour has not come within the spike window: across a gap the
        next reading says nothing about them, so they stand as judged."""
        if not self._held:
            return 0
        now = self.clock() if now is None else now
        due = [k for k, (_obs, _ts, by) in self._held.items() if by <= now]
        for k in due:
            batch.observations.append(self._held.pop(k)[0])
        return len(due)

    def _status(self, msg: StatusMessage, admin: str, batch: Batch) -> None:
        fields: dict[str, float | int | bool | str] = {"state": msg.state.value, "seq": msg.seq}
        for name in ("uptime_s", "disk_free_bytes", "outbox_depth", "outbox_dropped"):
            value = getattr(msg, name)
            if value is not None:
                fields[name] = float(value)
        for name, value in msg.extra.items():
            fields[f"x_{name}"] = float(value)
        batch.lines.append(
            line("node_status", {"admin_code": admin, "node_id": msg.node_id}, fields, to_epoch_ms(msg.ts))
        )
        batch.statuses[msg.node_id] = (msg.state.value, msg.model_dump_json(exclude_none=True))
        batch.status_changes.append((msg.node_id, msg.state.value, msg.ts))

    def _event(self, msg: EventMessage, admin: str, batch: Batch) -> None:
        tags = {"admin_code": admin, "node_id": msg.node_id, "camera": msg.camera, "label": msg.label}
        fields: dict[str, float | int | bool | str] = {
            "event_id": msg.event_id,
            "phase": msg.phase.value,
            "score": msg.score,
            "top_score": msg.top_score,
            "zones": ",".join(msg.zones),
            "seq": msg.seq,
        }
        # The box (normalised 0-1) so the operator page can draw it over the snapshot (hub/api/cameras.py).
        for name, value in zip(("box_ymin", "box_xmin", "box_ymax", "box_xmax"), msg.box, strict=True):
            fields[name] = float(value)
        if msg.snapshot:
            # The API path of the JPEG (hub/api/snapshots.py), so a dashboard can link straight to it.
            fields["snapshot"] = f"/api/snapshots/{msg.node_id}/{msg.camera}/{msg.label}"
        node = self.nodes.get(msg.node_id)
        if node is not None and node.lat is not None and node.lon is not None:
            fields["lat"], fields["lon"] = node.lat, node.lon  # Geomap markers
        batch.lines.append(line("camera_event", tags, fields, to_epoch_ms(msg.ts)))
        batch.events.append(msg)
