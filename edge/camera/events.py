"""Confirmed transitions to wire messages: the EventMessage and its JPEG snapshot (box drawn)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.camera.confirm import Phase, Transition
from wire import EventMessage, Topics
from wire.messages import EventPhase
from wire.nodeconfig.camera import Polygon, SnapshotSettings

if TYPE_CHECKING:
    from edge.outbox import Outbox

log = logging.getLogger(__name__)

COLOURS = {"fire": (0, 0, 255), "smoke": (200, 200, 200), "flood": (255, 128, 0)}  # BGR


def when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def event_id(camera: str, label: str, start_ts: float, track_id: int) -> str:
    """Short, unique per node, valid as an Identifier, and the same for every phase of one event."""
    stamp = datetime.fromtimestamp(start_ts, UTC).strftime("%Y%m%dt%H%M%S")
    digest = hashlib.sha1(f"{camera}/{label}/{start_ts:.3f}/{track_id}".encode()).hexdigest()[:8]
    return f"{stamp}-{digest}"


def zones_of(box: tuple[float, float, float, float], zones: dict[str, Polygon], w: int, h: int) -> list[str]:
    """Zones holding the box's bottom centre (where a plume or the water meets the ground), then its centre."""
    out = []
    points = [((box[0] + box[2]) / 2 / w, box[3] / h), ((box[0] + box[2]) / 2 / w, (box[1] + box[3]) / 2 / h)]
    for name, poly in zones.items():
        contour = np.array(poly, dtype=np.float32).reshape(-1, 1, 2)
        if any(cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points):
            out.append(name)
    return sorted(out)


def normalised_box(box: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float]:
    """x1, y1, x2, y2 pixels -> ymin, xmin, ymax, xmax in 0-1, as the wire contract has it."""
    x1, y1, x2, y2 = box

    def c(v: float) -> float:
        return round(min(1.0, max(0.0, v)), 4)

    return (c(y1 / h), c(x1 / w), c(y2 / h), c(x2 / w))


def build_event(
    node_id: str,
    seq: int,
    camera: str,
    tr: Transition,
    frame_w: int,
    frame_h: int,
    zones: list[str],
    start_ts: float,
    ts: float,
    snapshot_topic: str | None,
) -> EventMessage:
    return EventMessage(
        node_id=node_id,
        seq=seq,
        ts=when(ts),
        event_id=event_id(camera, tr.label, start_ts, tr.track_id),
        phase=EventPhase(tr.phase.value),
        camera=camera,
        label=tr.label,
        score=round(min(1.0, max(0.0, tr.score)), 4),
        top_score=round(min(1.0, max(0.0, max(tr.top_score, tr.score))), 4),
        box=normalised_box(tr.box, frame_w, frame_h),
        zones=zones,
        start=when(start_ts),
        end=when(ts) if tr.phase is Phase.END else None,
        snapshot=snapshot_topic,
    )


def snapshot_jpeg(frame: np.ndarray, tr: Transition, settings: SnapshotSettings) -> bytes:
    """The frame scaled to ``settings.height`` with the box and label drawn, as JPEG."""
    h, w = frame.shape[:2]
    s = settings.height / h
    img = cv2.resize(frame, (max(1, round(w * s)), settings.height), interpolation=cv2.INTER_AREA)
    x1, y1, x2, y2 = (round(v * s) for v in tr.box)
    colour = COLOURS.get(tr.label, (0, 255, 255))
    cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
    text = f"{tr.label} {tr.score:.2f}"
    cv2.putText(img, text, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, settings.quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


@dataclass(frozen=True)
class Outgoing:
    """A transition ready to publish, made in the camera's worker thread."""

    transition: Transition
    frame_w: int
    frame_h: int
    zones: list[str]
    snapshot: bytes | None


class OutboxPublisher:
    """Writes each transition's event (and its retained snapshot) to the node's durable outbox, in order.

    Called on the event loop only: the outbox is single-threaded.
    """

    def __init__(self, node_id: str, camera: str, topics: Topics, outbox: Outbox, kick: Callable[[], None]) -> None:
        self.node_id = node_id
        self.camera = camera
        self.topics = topics
        self.outbox = outbox
        self.kick = kick
        self.counters = {"events": 0, "snapshots": 0, "refused": 0}
        self.sent: list[EventMessage] = []  # the last few, for tests and the bench
        self._snapshot_topics: dict[str, str] = {}
        self._snapshot_seqs: dict[str, int] = {}

    def __call__(self, item: Outgoing) -> None:
        tr = item.transition
        snap_topic = self.topics.snapshot(self.node_id, self.camera, tr.label)
        if item.snapshot is not None:
            self._snapshot_topics[tr.label] = snap_topic
        built: list[EventMessage] = []

        def make(seq: int) -> bytes:
            msg = build_event(
                self.node_id,
                seq,
                self.camera,
                tr,
                item.frame_w,
                item.frame_h,
                item.zones,
                tr.start_t,
                tr.t,
                self._snapshot_topics.get(tr.label),
            )
            built.append(msg)
            return msg.model_dump_json(exclude_none=True).encode()

        if self.outbox.enqueue(self.topics.event(self.node_id), make) is None:
            self.counters["refused"] += 1
        else:
            self.counters["events"] += 1
            self.sent = [*self.sent[-99:], *built]
        if item.snapshot is not None:
            jpeg = item.snapshot
            # Retained, so the hub (and any viewer) finds the latest picture per camera and label at once.
            seq = self.outbox.enqueue(snap_topic, lambda _seq: jpeg, retain=True)
            if seq is not None:
                self.counters["snapshots"] += 1
                # Only the latest picture per camera and label matters: an older one still queued is dropped, so
                # a long outage queues one snapshot per label, not one per update.
                old = self._snapshot_seqs.get(snap_topic)
                if old is not None:
                    self.outbox.remove([old])
                self._snapshot_seqs[snap_topic] = seq
        self.kick()
