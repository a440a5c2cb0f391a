"""The prepared set (prepare.py's index.json) as arrays at the model's input size, and training augmentation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

PAD_VALUE = 114  # the edge's letterbox grey (edge/inference/preprocess.py)


@dataclass
class Split:
    images: np.ndarray  # N x S x S x 3 uint8 RGB, letterboxed
    boxes: list[np.ndarray]  # per image: K x 5 [class, x1, y1, x2, y2] in input pixels
    files: list[str]


def letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Resize keeping the aspect ratio, pad to size x size with PAD_VALUE; returns image, scale, pad x, pad y."""
    h, w = img.shape[:2]
    s = min(size / w, size / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    out = np.full((size, size, 3), PAD_VALUE, np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py : py + nh, px : px + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, s, px, py


def load_split(root: Path, split: str, size: int, limit: int | None = None) -> Split:
    entries = [e for e in json.loads((root / "index.json").read_text()) if e["split"] == split]
    entries = entries[:limit] if limit else entries
    images, boxes = np.zeros((len(entries), size, size, 3), np.uint8), []
    for i, e in enumerate(entries):
        img = cv2.imread(str(root / e["file"]), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{root / e['file']}: not an image")
        h, w = img.shape[:2]
        images[i], s, px, py = letterbox(img[:, :, ::-1], size)
        b = np.asarray(e["boxes"], np.float32).reshape(-1, 5)
        b[:, [1, 3]] = b[:, [1, 3]] * w * s + px
        b[:, [2, 4]] = b[:, [2, 4]] * h * s + py
        boxes.append(b)
    return Split(images, boxes, [e["file"] for e in entries])


def augment(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One training view: zoom in (a random crop) or out (the image smaller on grey, as a distant fire is), a flip,
    and colour jitter. Boxes cut to less than a third of their area by a crop are dropped."""
    size = img.shape[0]
    b = boxes.copy()
    z = rng.uniform(0.45, 1.0) if rng.random() < 0.35 else rng.uniform(1.0, 1.8)
    if z >= 1.0:
        cw = size / z
        x0, y0 = rng.uniform(0, size - cw), rng.uniform(0, size - cw)
        m = np.float32([[z, 0, -x0 * z], [0, z, -y0 * z]])
    else:
        nw = size * z
        x0, y0 = rng.uniform(0, size - nw), rng.uniform(0, size - nw)
        m = np.float32([[z, 0, x0], [0, z, y0]])
    out = cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(PAD_VALUE,) * 3)
    if len(b):
        area0 = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
        b[:, [1, 3]] = b[:, [1, 3]] * m[0, 0] + m[0, 2]
        b[:, [2, 4]] = b[:, [2, 4]] * m[1, 1] + m[1, 2]
        b[:, 1:] = b[:, 1:].clip(0, size)
        area1 = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
        b = b[area1 >= area0 * (m[0, 0] ** 2) / 3 - 1e-6]
        b = b[((b[:, 3] - b[:, 1]) >= 2) & ((b[:, 4] - b[:, 2]) >= 2)]
    if rng.random() < 0.5:
        out = out[:, ::-1]
        b[:, [1, 3]] = size - b[:, [3, 1]]
    f = out.astype(np.float32) / 255.0
    gain, bias = rng.uniform(0.7, 1.3), rng.uniform(-0.1, 0.1)
    sat = rng.uniform(0.6, 1.3)
    grey = f.mean(axis=2, keepdims=True)
    f = np.clip(((grey + (f - grey) * sat) - 0.5) * gain + 0.5 + bias, 0.0, 1.0)
    return f, b


def synthetic_negatives(clips: int, per_clip: int, size: int, seed: int) -> np.ndarray:
    """Simulator frames with smoke and fire look-alikes and no event (clouds, fog, sun glare, swaying trees,
    headlights, lightning), as extra negatives: augmentation only, the model's positives are all real. Half are
    native-resolution crops, as a tower's tiles show the model."""
    from fire_smoke.dataset import hard_negative_plan
    from simulators.camera.render import iter_frames
    from simulators.camera.spec import ClipSpec

    rng = np.random.default_rng(seed)
    out = []
    for plan in hard_negative_plan(clips, seconds=per_clip * 4.0, fps=0.25, crops=0.0):
        spec = ClipSpec(**plan.spec)
        for frame, _ in iter_frames(spec):
            if rng.random() < 0.5 and frame.shape[0] >= size and frame.shape[1] >= size:
                y = int(rng.integers(0, frame.shape[0] - size + 1))
                x = int(rng.integers(0, frame.shape[1] - size + 1))
                out.append(frame[y : y + size, x : x + size, ::-1].copy())
            else:
                out.append(letterbox(frame[:, :, ::-1], size)[0])
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)
