"""Motion gating: where in a frame something changed, so the detector runs only there (and only when needed).

Motion is computed on a small blurred grey copy against a running-average background. A change over most of the
frame (lightning, the camera's IR switch, auto exposure) recalibrates the background instead of reporting motion
everywhere; the pipeline still runs a periodic whole-frame check so a slow plume that barely moves is not missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from wire.nodeconfig.camera import MotionSettings, Polygon

Box = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels


@dataclass(frozen=True)
class MotionResult:
    regions: list[Box]
    changed: float  # fraction of the (unmasked) frame that changed
    recalibrated: bool


def polygon_mask(polygons: list[Polygon], width: int, height: int) -> np.ndarray:
    """uint8 mask, 255 inside any polygon (polygons in 0-1 fractions of the frame)."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for poly in polygons:
        pts = np.array([[round(x * (width - 1)), round(y * (height - 1))] for x, y in poly], dtype=np.int32)
        cv2.fillPoly(mask, [pts], 255)
    return mask


class MotionDetector:
    def __init__(self, settings: MotionSettings, masks: list[Polygon] | None = None) -> None:
        self.s = settings
        self.masks = masks or []
        self._bg: np.ndarray | None = None
        self._keep: np.ndarray | None = None  # 1 where motion counts, 0 under a mask
        self._size: tuple[int, int] = (0, 0)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
        self.recalibrations = 0

    def _small(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        sh = min(self.s.height, h)
        sw = max(1, round(w * sh / h))
        if (sw, sh) != self._size:
            self._size = (sw, sh)
            self._bg = None
            self._keep = (polygon_mask(self.masks, sw, sh) == 0).astype(np.uint8)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        small = cv2.resize(grey, (sw, sh), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0)

    def reset(self) -> None:
        self._bg = None

    def update(self, frame: np.ndarray) -> MotionResult:
        small = self._small(frame)
        if self._bg is None:
            self._bg = small.astype(np.float32)
            return MotionResult([], 0.0, True)
        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._bg))
        _, moving = cv2.threshold(diff, self.s.threshold, 255, cv2.THRESH_BINARY)
        assert self._keep is not None
        moving *= self._keep
        area = float(self._keep.sum()) or 1.0
        changed = float(np.count_nonzero(moving)) / area
        if changed > self.s.recalibrate_fraction:
            self._bg = small.astype(np.float32)
            self.recalibrations += 1
            return MotionResult([], changed, True)
        cv2.accumulateWeighted(small, self._bg, self.s.alpha)
        if not changed:
            return MotionResult([], 0.0, False)
        moving = cv2.dilate(moving, self._kernel, iterations=2)
        contours, _ = cv2.findContours(moving, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        sw, sh = self._size
        fh, fw = frame.shape[:2]
        sx, sy = fw / sw, fh / sh
        min_px = self.s.min_area * sw * sh
        regions: list[Box] = []
        for c in contours:
            if cv2.contourArea(c) < min_px:
                continue
            x, y, w, h = cv2.boundingRect(c)
            regions.append(
                (int(x * sx), int(y * sy), min(fw, int((x + w) * sx + 0.999)), min(fh, int((y + h) * sy + 0.999)))
            )
        return MotionResult(regions, changed, False)


def _overlap_or_touch(a: Box, b: Box) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def merge_boxes(boxes: list[Box]) -> list[Box]:
    """Union boxes that overlap or touch, until none do."""
    out = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                if _overlap_or_touch(out[i], out[j]):
                    a, b = out[i], out[j]
                    out[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


def _fit_aspect(box: Box, aspect: float, min_w: int, frame_w: int, frame_h: int) -> Box:
    """Grow a box about its centre to the model's aspect (w / h) and at least its input size, inside the frame."""
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, min_w), max(y2 - y1, round(min_w / aspect))
    if w / h < aspect:
        w = round(h * aspect)
    else:
        h = round(w / aspect)
    w, h = min(w, frame_w), min(h, frame_h)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    nx1 = int(min(max(0, cx - w / 2), frame_w - w))
    ny1 = int(min(max(0, cy - h / 2), frame_h - h))
    return (nx1, ny1, nx1 + w, ny1 + h)


def plan_crops(
    regions: list[Box], frame_w: int, frame_h: int, model_w: int, model_h: int, pad: float, max_regions: int
) -> list[Box] | None:
    """Crops to run the detector on, or None for the whole frame (too many or too large to be worth cropping).

    Each region is padded, merged with its neighbours and grown to the model's aspect and at least its input size
    (upscaling a tiny crop would show the model objects at a size it was never trained on).
    """
    if not regions:
        return []
    padded = []
    for x1, y1, x2, y2 in regions:
        px, py = round((x2 - x1) * pad), round((y2 - y1) * pad)
        padded.append((max(0, x1 - px), max(0, y1 - py), min(frame_w, x2 + px), min(frame_h, y2 + py)))
    aspect = model_w / model_h
    crops = merge_boxes([_fit_aspect(b, aspect, model_w, frame_w, frame_h) for b in merge_boxes(padded)])
    crops = merge_boxes([_fit_aspect(b, aspect, model_w, frame_w, frame_h) for b in crops])
    area = sum((c[2] - c[0]) * (c[3] - c[1]) for c in crops)
    if len(crops) > max_regions or area >= 0.6 * frame_w * frame_h:
        return None
    return crops


def tile_grid(frame_w: int, frame_h: int, tile_w: int, tile_h: int) -> list[Box]:
    """Overlapping model-sized tiles covering the frame, row by row (one tile when the frame is smaller)."""

    def starts(size: int, tile: int) -> list[int]:
        if size <= tile:
            return [0]
        n = -(-size // tile)  # ceil: the fewest tiles that cover, spread evenly so neighbours overlap
        return [round(i * (size - tile) / (n - 1)) for i in range(n)] if n > 1 else [0]

    tw, th = min(tile_w, frame_w), min(tile_h, frame_h)
    return [(x, y, x + tw, y + th) for y in starts(frame_h, th) for x in starts(frame_w, tw)]


def overlapping_tiles(frame_w: int, frame_h: int, tile: int, overlap: float) -> list[Box]:
    """Square tiles of side ``tile`` covering the frame, neighbours sharing at least ``overlap`` of a tile."""

    def starts(size: int) -> list[int]:
        if size <= tile:
            return [0]
        step = max(1.0, tile * (1.0 - overlap))
        n = 1 + -(-(size - tile) // int(step))  # the fewest tiles that keep at least the overlap, spread evenly
        return [round(i * (size - tile) / (n - 1)) for i in range(n)]

    tw, th = min(tile, frame_w), min(tile, frame_h)
    return [(x, y, x + tw, y + th) for y in starts(frame_h) for x in starts(frame_w)]


def overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
