"""Confirmation: turns per-frame detections into few, stable events (pure; no I/O, no clock of its own).

A detection passes its label's score, area and aspect-ratio filters, then joins the track of its label that it
overlaps (a simple IoU tracker). A track is confirmed when at least ``min_hits`` of its last ``window`` detector
runs saw it: one flicker never raises an event. Labels that must move (fire, smoke) must overlap motion in half of
those runs, a track whose centre drifts more than ``max_travel`` times its size first is a vehicle or a bird, and smoke
must also grow (a new plume spreads from its source) inside the frame or persist for a long dwell, and be seen
steadily meanwhile. A confirmed track accepts weaker scores (hysteresis) and ends only once its label has been
absent for ``end_after_s``, so an ongoing fire does not flap.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from wire.nodeconfig.camera import ConfirmSettings, LabelRule

# Sightings whose median box area stands for "how big it was" at the start and "how big it is now" (1 s at 5 fps):
# one box is too noisy, and the two spans never overlap, so growth is always judged against an earlier state.
GROWTH_SPAN = 5


class Phase(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


@dataclass
class Track:
    id: int
    label: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    score: float
    first_t: float
    last_seen_t: float
    votes: deque[float] = field(default_factory=deque)  # score of each detector run, 0 when it missed
    confirmed: bool = False
    start_t: float = 0.0
    top_score: float = 0.0
    reported_score: float = 0.0
    reported_t: float = 0.0
    first_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    travelled: bool = False  # drifted beyond its label's travel limit before confirmation: a vehicle, not a fire
    moving: deque[bool] = field(default_factory=deque)  # per vote: did the sighting overlap motion
    first_boxes: list[tuple[float, float, float, float]] = field(default_factory=list)  # first GROWTH_SPAN sightings
    sightings: int = 0  # before confirmation
    looked: int = 0  # detector runs that looked at it before confirmation, seen or not
    grown_run: int = 0  # consecutive sightings, up to now, at which it had grown
    last_boxes: deque[tuple[float, float, float, float]] = field(default_factory=lambda: deque(maxlen=GROWTH_SPAN))


@dataclass(frozen=True)
class Transition:
    phase: Phase
    track_id: int
    label: str
    box: tuple[float, float, float, float]
    score: float
    top_score: float
    start_t: float
    t: float  # when the transition happened (frame time)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _centre_inside(box: tuple[float, float, float, float], within: tuple[float, float, float, float]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return within[0] <= cx <= within[2] and within[1] <= cy <= within[3]


def _travelled(first: tuple[float, float, float, float], box: tuple[float, float, float, float], limit: float) -> bool:
    """Whether the box's centre moved more than ``limit`` times the larger of its sizes from where it was first seen.

    A fire or plume grows and sways about where it started; an orange truck or a bird crosses the frame.
    """
    size = max(first[2] - first[0], first[3] - first[1], box[2] - box[0], box[3] - box[1], 1.0)
    dx = (box[0] + box[2] - first[0] - first[2]) / 2
    dy = (box[1] + box[3] - first[1] - first[3]) / 2
    return (dx * dx + dy * dy) ** 0.5 > limit * size


def _median_hit(votes: deque[float]) -> float:
    hits = sorted(v for v in votes if v > 0)
    return hits[len(hits) // 2] if hits else 0.0


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _median_box(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    return tuple(sorted(b[k] for b in boxes)[len(boxes) // 2] for k in range(4))  # type: ignore[return-value]


def at_edge(box: tuple[float, float, float, float], frame_w: int, frame_h: int, margin: float = 0.01) -> bool:
    """Whether the box reaches the frame's border (within ``margin`` of its size): the frame cuts what it holds."""
    mx, my = margin * frame_w, margin * frame_h
    return box[0] <= mx or box[1] <= my or box[2] >= frame_w - mx or box[3] >= frame_h - my


def grown(tr: Track, factor: float, frame_w: int, frame_h: int) -> bool:
    """Whether the track's box has grown ``factor``-fold: median of its latest sightings against its first ones.

    A box cut by the frame's border does not count: its size is the frame's, not the object's, and a cloud drifting
    into view or the sun's bloom at the edge "grows" as more of it comes in.
    """
    if tr.sightings < 2 * GROWTH_SPAN:
        return False
    first, last = _median_box(tr.first_boxes), _median_box(list(tr.last_boxes))
    if at_edge(first, frame_w, frame_h) or at_edge(last, frame_w, frame_h):
        return False
    a0 = sorted(_area(b) for b in tr.first_boxes)[GROWTH_SPAN // 2]
    a1 = sorted(_area(b) for b in tr.last_boxes)[GROWTH_SPAN // 2]
    return a0 > 0 and a1 >= factor * a0


def steady(tr: Track, share: float) -> bool:
    """Seen in at least ``share`` of the detector runs that looked at it since it was first seen: a plume, once
    visible, is there in every frame, while a tree swaying against passing fog is seen on and off for minutes."""
    return tr.sightings >= share * max(1, tr.looked)


def passes(rule: LabelRule, box: tuple[float, float, float, float], frame_w: int, frame_h: int) -> bool:
    """The area and aspect-ratio filters of a label (the score is checked by the caller, with hysteresis)."""
    w, h = box[2] - box[0], box[3] - box[1]
    if w <= 0 or h <= 0:
        return False
    area = w * h / float(frame_w * frame_h)
    return rule.min_area <= area <= rule.max_area and rule.min_ratio <= w / h <= rule.max_ratio


def merge_touching(
    cands: list[tuple[str, tuple[float, float, float, float], float]], margin: float = 2.0
) -> list[tuple[str, tuple[float, float, float, float], float]]:
    """Union same-label boxes that overlap or touch: fire, smoke and water are amorphous, and a detector often
    covers one plume with several boxes. One event per blob is what an operator wants. Highest score first."""
    out = sorted(cands, key=lambda c: -c[2])
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                (la, a, sa), (lb, b, sb) = out[i], out[j]
                if (
                    la == lb
                    and a[0] <= b[2] + margin
                    and b[0] <= a[2] + margin
                    and a[1] <= b[3] + margin
                    and b[1] <= a[3] + margin
                ):
                    out[i] = (la, (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])), max(sa, sb))
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


class Confirmer:
    """Per-camera state. ``update(t, detections, ran)`` for every processed frame -> transitions to publish."""

    def __init__(
        self,
        settings: ConfirmSettings,
        labels: list[str],
        rules: dict[str, LabelRule],
        default_rule: LabelRule,
        frame_w: int,
        frame_h: int,
        report: list[str] | None = None,
        sky: np.ndarray | None = None,
    ) -> None:
        self.s = settings
        self.labels = labels
        self.rules = rules
        self.default_rule = default_rule
        self.frame_w, self.frame_h = frame_w, frame_h
        self.report = set(report) if report is not None else set(labels)
        self.sky = sky  # (H, W), non-zero in the open sky; None: no sky drawn
        self.tracks: list[Track] = []
        self._next_id = 1
        self.counters = {"filtered": 0, "in_sky": 0, "tracks": 0, "confirmed": 0}

    def rule(self, label: str) -> LabelRule:
        return self.rules.get(label, self.default_rule)

    def _candidates(self, dets: np.ndarray) -> list[tuple[str, tuple[float, float, float, float], float]]:
        out = []
        for x1, y1, x2, y2, score, cls in np.asarray(dets, dtype=np.float64).reshape(-1, 6):
            k = int(cls)
            if not 0 <= k < len(self.labels) or self.labels[k] not in self.report:
                continue
            label = self.labels[k]
            rule = self.rule(label)
            box = (float(x1), float(y1), float(x2), float(y2))
            # Keep weaker rows for now: an ongoing track accepts them (hysteresis); new tracks need min_score.
            if score < rule.min_score * self.s.ongoing_factor:
                self.counters["filtered"] += 1
                continue
            out.append((label, box, float(score)))
        kept = []
        for label, box, score in merge_touching(out):
            # Size and shape are judged on the merged blob, not on the fragments a detector may split it into.
            if not passes(self.rule(label), box, self.frame_w, self.frame_h):
                self.counters["filtered"] += 1
            elif label in self.s.grounded and self._in_sky(box):
                self.counters["in_sky"] += 1
            else:
                kept.append((label, box, score))
        return kept

    def _in_sky(self, box: tuple[float, float, float, float]) -> bool:
        """Whether the middle of the box's bottom edge, where a fire meets what burns, is in the open sky."""
        if self.sky is None:
            return False
        h, w = self.sky.shape[:2]
        x = min(w - 1, max(0, int((box[0] + box[2]) / 2)))
        y = min(h - 1, max(0, int(box[3]) - 1))
        return bool(self.sky[y, x])

    def _match(self, label: str, box: tuple[float, float, float, float], taken: set[int]) -> Track | None:
        best, best_iou = None, self.s.match_iou
        for tr in self.tracks:
            if tr.label != label or tr.id in taken:
                continue
            o = iou(tr.box, box)
            # A confirmed fire or plume changes shape a lot: any overlap with it still continues it, so that a
            # plume the detector splits or reshapes never becomes a second event.
            if o >= best_iou or (tr.confirmed and best is None and o > 0):
                best, best_iou = tr, max(o, best_iou)
        return best

    def update(
        self,
        t: float,
        dets: np.ndarray,
        ran: bool = True,
        covered: list[tuple[int, int, int, int]] | None = None,
        motion: list[tuple[int, int, int, int]] | None = None,
    ) -> list[Transition]:
        """One processed frame. ``ran`` False: the detector did not run (no motion); only the timers advance.

        ``covered``: the crops the detector looked at (None: the whole frame). A track outside all of them gets no
        vote this frame rather than a miss: not looking is not the same as not seeing. ``motion``: the moving
        regions of this frame (None: not known, e.g. gating is off), for the labels that must move to be real.
        """
        if ran:
            taken = self._see(t, dets, motion)
            self._count_misses(taken, covered)
        out: list[Transition] = []
        keep: list[Track] = []
        for tr in self.tracks:
            if self._follow(tr, t, out) if tr.confirmed else self._judge(tr, t, out):
                keep.append(tr)
        self.tracks = keep
        return out

    def _see(self, t: float, dets: np.ndarray, motion: list[tuple[int, int, int, int]] | None) -> set[int]:
        """Join each detection to its track, or start one; the ids of the tracks seen this frame."""
        taken: set[int] = set()
        for label, box, score in self._candidates(dets):
            tr = self._match(label, box, taken)
            rule = self.rule(label)
            needed = rule.min_score * (self.s.ongoing_factor if tr is not None and tr.confirmed else 1.0)
            if score < needed:
                continue
            if tr is None:
                tr = Track(self._next_id, label, box, score, first_t=t, last_seen_t=t, first_box=box)
                self._next_id += 1
                self.tracks.append(tr)
                self.counters["tracks"] += 1
            tr.box, tr.score, tr.last_seen_t = box, score, t
            if not tr.confirmed:
                self._candidate_seen(tr, box)
            tr.moving.append(motion is None or any(_overlap(box, m) for m in motion))
            tr.votes.append(score)
            taken.add(tr.id)
        return taken

    def _candidate_seen(self, tr: Track, box: tuple[float, float, float, float]) -> None:
        """What confirmation judges besides the votes: travel, and for the labels that must grow, growth."""
        tr.travelled = tr.travelled or _travelled(tr.first_box, box, self._travel_limit(tr.label))
        tr.sightings += 1
        tr.looked += 1
        if len(tr.first_boxes) < GROWTH_SPAN:
            tr.first_boxes.append(box)
        tr.last_boxes.append(box)
        if tr.label in self.s.must_grow:
            grew = grown(tr, self.s.growth, self.frame_w, self.frame_h)
            tr.grown_run = tr.grown_run + 1 if grew else 0

    def _count_misses(self, taken: set[int], covered: list[tuple[int, int, int, int]] | None) -> None:
        """A miss for each track the detector looked at and did not see; every track's votes cut to the window."""
        for tr in self.tracks:
            if tr.id not in taken and (covered is None or any(_centre_inside(tr.box, c) for c in covered)):
                tr.votes.append(0.0)
                tr.moving.append(False)
                if not tr.confirmed:
                    tr.looked += 1
            while len(tr.votes) > self.s.window:
                tr.votes.popleft()
            while len(tr.moving) > self.s.window:
                tr.moving.popleft()

    def _judge(self, tr: Track, t: float, out: list[Transition]) -> bool:
        """A candidate track: confirmed (a NEW transition), kept waiting, or forgotten (False)."""
        hits = sum(1 for v in tr.votes if v > 0)
        if self._confirms(tr, hits):
            tr.confirmed = True
            tr.start_t = tr.first_t
            tr.top_score = max(tr.votes)
            tr.reported_score, tr.reported_t = tr.score, t
            self.counters["confirmed"] += 1
            out.append(self._transition(Phase.NEW, tr, t))
            return True
        # A candidate that never made it is forgotten silently.
        return not ((hits == 0 and len(tr.votes) >= self.s.window) or t - tr.last_seen_t > self.s.end_after_s)

    def _confirms(self, tr: Track, hits: int) -> bool:
        return (
            hits >= self.s.min_hits
            and _median_hit(tr.votes) >= self.s.confirm_score
            and not tr.travelled
            and (tr.label not in self.s.needs_motion or 2 * sum(tr.moving) >= hits)
            and (tr.label not in self.s.must_grow or self._plume_like(tr))
        )

    def _follow(self, tr: Track, t: float, out: list[Transition]) -> bool:
        """A confirmed track: ended (an END transition, False), or kept, with an UPDATE when it has news."""
        if t - tr.last_seen_t >= self.s.end_after_s:
            out.append(self._transition(Phase.END, tr, t))
            return False
        tr.top_score = max(tr.top_score, tr.score if tr.last_seen_t == t else 0.0)
        if tr.last_seen_t == t and (
            tr.score >= tr.reported_score + self.s.update_score_rise or t - tr.reported_t >= self.s.update_every_s
        ):
            tr.reported_score, tr.reported_t = tr.score, t
            out.append(self._transition(Phase.UPDATE, tr, t))
        return True

    def _travel_limit(self, label: str) -> float:
        return self.s.max_travel_by_label.get(label, self.s.max_travel)

    def _plume_like(self, tr: Track) -> bool:
        if not steady(tr, self.s.steady_share):
            return False
        return tr.grown_run >= self.s.growth_hold or tr.last_seen_t - tr.first_t >= self.s.dwell_s

    def finish(self, t: float) -> list[Transition]:
        """End every confirmed event (the camera stops or its file ends)."""
        out = [self._transition(Phase.END, tr, t) for tr in self.tracks if tr.confirmed]
        self.tracks = []
        return out

    def active_boxes(self, t: float, hold_s: float) -> list[tuple[float, float, float, float]]:
        """Boxes of the tracks seen within ``hold_s`` of ``t``, confirmed or not: where to keep looking."""
        return [tr.box for tr in self.tracks if t - tr.last_seen_t <= hold_s]

    def _transition(self, phase: Phase, tr: Track, t: float) -> Transition:
        return Transition(phase, tr.id, tr.label, tr.box, tr.score, tr.top_score, tr.start_t, t)
