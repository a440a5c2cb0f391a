"""Simulated training and evaluation frames: clip plans by seed, letterboxed to the model input, boxes alongside."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import cv2
import numpy as np

LABELS = ("fire", "smoke", "flood")
INPUT_SIZE = 192
# Ultralytics pads with grey 114, as the edge letterbox does, so the model sees the borders it was trained on.
PAD_VALUE = 114
SCENES = ("forest", "river", "dam")
DISTRACTORS = ("vehicles", "birds", "trees", "glare", "clouds", "fog", "lightning", "ir_switch")
# Seeds of training clips and held-out clips never overlap: training uses [TRAIN_SEED_BASE, EVAL_SEED_BASE).
TRAIN_SEED_BASE = 10_000
EVAL_SEED_BASE = 900_000
# Hard-negative clips draw their seeds from their own range inside the training one, so adding them never changes
# the ordinary clips a budget renders.
HARD_SEED_BASE = 500_000
# What a small model takes for smoke: cloud edges behind structures, valley fog, sun glare, wind-swayed trees.
SMOKE_LOOKALIKES = ("clouds", "fog", "glare", "trees")


@dataclass
class Letterbox:
    """How a frame was fitted into the square model input: model = frame * scale + (pad_x, pad_y)."""

    scale: float
    pad_x: int
    pad_y: int


def letterbox(frame_bgr: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio, pad to ``size`` x ``size`` and convert to RGB (uint8)."""
    h, w = frame_bgr.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    out[pad_y : pad_y + nh, pad_x : pad_x + nw] = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    return out, Letterbox(scale, pad_x, pad_y)


def map_boxes(boxes: Iterable[Any], lb: Letterbox) -> np.ndarray:
    """Truth boxes (label, x1..y2 in frame pixels) to rows ``[class, x1, y1, x2, y2]`` in model-input pixels."""
    rows = []
    for b in boxes:
        if b.label not in LABELS:
            continue
        x1, y1 = b.x1 * lb.scale + lb.pad_x, b.y1 * lb.scale + lb.pad_y
        x2, y2 = b.x2 * lb.scale + lb.pad_x, b.y2 * lb.scale + lb.pad_y
        if x2 - x1 < 1.0 or y2 - y1 < 1.0:
            continue
        rows.append([LABELS.index(b.label), x1, y1, x2, y2])
    return np.asarray(rows, np.float32).reshape(-1, 5)


@dataclass
class ClipPlan:
    """One clip to render (keyword arguments of the simulator's ``ClipSpec``) and which of its frames to keep."""

    spec: dict[str, Any]
    every: int = 1
    tags: list[str] = field(default_factory=list)
    # Share of kept frames also added as a random crop: the edge may run the detector on motion regions.
    crops: float = 0.0


def _smoke_or_fire(rng: random.Random, start: float) -> dict[str, Any]:
    x, y = rng.uniform(0.1, 0.9), rng.uniform(0.35, 0.85)
    if rng.random() < 0.5:
        return dict(kind="smoke", start_s=start, x=x, y=y, size=rng.uniform(0.12, 0.45))
    return dict(kind="fire", start_s=start, x=x, y=y, size=rng.uniform(0.04, 0.18), smoke=rng.random() < 0.7)


def _events_for(scene: str, rng: random.Random, seconds: float) -> list[dict[str, Any]]:
    """Events natural to the scene (smoke and flames on the hillside, rising water at river and dam), sometimes two."""
    start = rng.uniform(0.0, seconds * 0.4)
    if scene != "forest" and rng.random() < 0.65:
        # Mostly over the alarm lines (0.53-0.56 of the height), sometimes under: water below the line is not a flood.
        level = rng.uniform(0.3, 0.62)
        events = [dict(kind="water_rise", start_s=start, y=level, ramp_s=rng.uniform(3.0, seconds * 0.5))]
    else:
        events = [_smoke_or_fire(rng, start)]
    if rng.random() < 0.15:
        events.append(_smoke_or_fire(rng, rng.uniform(0.0, seconds * 0.5)))
    return events


def clip_plan(
    n_clips: int, seed_base: int, seconds: float, fps: float, every: int, negatives: float, crops: float = 0.0
) -> list[ClipPlan]:
    """``n_clips`` varied clips: every scene, day and night, rain, shake, distractors; a share without any event."""
    plans = []
    for i in range(n_clips):
        seed = seed_base + i
        rng = random.Random(seed)
        scene = SCENES[i % len(SCENES)]
        negative = rng.random() < negatives
        spec = dict(
            scene=scene,
            seconds=seconds,
            fps=fps,
            width=640,
            height=360,
            seed=seed,
            time_of_day=rng.choice(["day", "day", "night"]),
            rain=rng.random() < 0.3,
            shake=rng.choice([0.0, 0.0, 1.0, 3.0]),
            events=[] if negative else _events_for(scene, rng, seconds),
            distractors=sorted(rng.sample(DISTRACTORS, rng.randint(0 if not negative else 1, len(DISTRACTORS)))),
        )
        plans.append(ClipPlan(spec=spec, every=every, tags=["negative" if negative else "event", scene], crops=crops))
    return plans


def hard_negative_plan(n_clips: int, seconds: float, fps: float, crops: float) -> list[ClipPlan]:
    """``n_clips`` clips with no event and always smoke look-alikes (clouds and trees, often fog and sun glare).

    The detector's false alarms on distractor clips were smoke on cloud edges passing behind the dam's gate tower,
    beside the sun and on trees swaying against fog: a plain share of random negatives shows those too rarely to
    learn them. More of these frames are cropped, because the edge looks at motion crops (a drifting cloud, a
    swaying tree) at native resolution.
    """
    plans = []
    for i in range(n_clips):
        seed = HARD_SEED_BASE + i
        rng = random.Random(seed)
        lookalikes = ["clouds", "trees", *rng.sample(["fog", "glare"], rng.randint(0, 2))]
        others = rng.sample([d for d in DISTRACTORS if d not in SMOKE_LOOKALIKES], rng.randint(0, 3))
        spec = dict(
            scene=SCENES[i % len(SCENES)],
            seconds=seconds,
            fps=fps,
            width=640,
            height=360,
            seed=seed,
            time_of_day=rng.choice(["day", "day", "day", "night"]),
            rain=rng.random() < 0.2,
            shake=rng.choice([0.0, 0.0, 1.0]),
            events=[],
            distractors=sorted(lookalikes + others),
        )
        plans.append(ClipPlan(spec=spec, every=1, tags=["hard_negative", spec["scene"]], crops=crops))
    return plans


@dataclass
class FrameSet:
    """Letterboxed frames (uint8 RGB, N x 192 x 192 x 3), their boxes and which clip each came from."""

    images: np.ndarray
    boxes: list[np.ndarray]
    clip: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def _render_one(args: tuple[ClipPlan, ModuleType | None]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    plan, sim = args
    sim = sim if sim is not None else default_simulator()
    spec = sim.ClipSpec(**plan.spec)
    rng = np.random.default_rng(plan.spec["seed"])
    images, boxes = [], []
    for frame, truth in sim.iter_frames(spec):
        if truth.index % plan.every:
            continue
        img, lb = letterbox(frame)
        images.append(img)
        boxes.append(map_boxes(truth.boxes, lb))
        if rng.random() < plan.crops:
            img, rows = random_crop(frame, truth.boxes, rng)
            images.append(img)
            boxes.append(rows)
    return images, boxes


@dataclass
class _Box:
    label: str
    x1: float
    y1: float
    x2: float
    y2: float


def random_crop(frame: np.ndarray, truth: Iterable[Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random region (from the input size up to the frame's height), letterboxed; boxes clipped to it.

    A box mostly outside the region is dropped rather than kept as a sliver the model could not recognise.
    """
    h, w = frame.shape[:2]
    side = int(rng.uniform(min(INPUT_SIZE, h), h))
    cw, ch = min(w, int(side * rng.uniform(1.0, 1.78))), side
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    kept = []
    for b in truth:
        x1, y1, x2, y2 = max(b.x1, x0), max(b.y1, y0), min(b.x2, x0 + cw), min(b.y2, y0 + ch)
        if x2 <= x1 or y2 <= y1:
            continue
        if (x2 - x1) * (y2 - y1) < 0.5 * (b.x2 - b.x1) * (b.y2 - b.y1):
            continue
        kept.append(_Box(b.label, x1 - x0, y1 - y0, x2 - x0, y2 - y0))
    img, lb = letterbox(frame[y0 : y0 + ch, x0 : x0 + cw])
    return img, map_boxes(kept, lb)


def render(plans: Sequence[ClipPlan], sim: ModuleType | None = None, workers: int = 1) -> FrameSet:
    """Render every plan and keep its sampled frames; ``sim`` defaults to ``simulators.camera``."""
    jobs = [(p, sim) for p in plans]
    if workers > 1 and sim is None:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            results = pool.map(_render_one, jobs, chunksize=1)
    else:
        results = [_render_one(j) for j in jobs]
    images, boxes, clip = [], [], []
    for ci, (imgs, bxs) in enumerate(results):
        images += imgs
        boxes += bxs
        clip += [ci] * len(imgs)
    empty = np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    return FrameSet(np.stack(images) if images else empty, boxes, np.asarray(clip, np.int32))


def default_simulator() -> ModuleType:
    """The project's camera simulator; imported late so the scripts load (and say why) without it."""
    import simulators.camera as sim

    return sim
