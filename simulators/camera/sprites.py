"""Foreground plants drawn over the scene (trees, reeds), which sway in the wind when that distractor is on."""

from __future__ import annotations

import cv2
import numpy as np


class Sprite:
    """A cut-out with soft edges placed at (``x``, ``y``) (its top-left corner, in frame pixels).

    Kept premultiplied as what of the background to keep (x 1/255) and what to add, so drawing is two saturating
    uint8 operations instead of float blending.
    """

    def __init__(self, bgra: np.ndarray, x: int, y: int, sway: float, freq: float, phase: float) -> None:
        alpha = bgra[:, :, 3:4]
        self.keep = np.repeat((1.0 - alpha) * 255.0 + 0.5, 3, axis=2).astype(np.uint8)
        self.add = (bgra[:, :, :3] * alpha + 0.5).clip(0, 255).astype(np.uint8)
        self.x, self.y = x, y
        self.sway = sway  # shear of the top relative to the base at full sway (fraction of the sprite's height)
        self.freq = freq  # sway frequency, Hz
        self.phase = phase

    def draw(self, frame: np.ndarray, shear: float) -> None:
        """Blend into ``frame``, sheared by ``shear`` about the sprite's base (0 = upright)."""
        keep: np.ndarray = self.keep
        add: np.ndarray = self.add
        h, w = keep.shape[:2]
        if shear:
            # x' = x + shear * (h - y): the base stays put, the top moves the most, as a plant bends.
            m = np.array([[1.0, -shear, shear * h], [0.0, 1.0, 0.0]], np.float32)
            keep = cv2.warpAffine(keep, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))
            add = cv2.warpAffine(add, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        fh, fw = frame.shape[:2]
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(fw, self.x + w), min(fh, self.y + h)
        if x0 >= x1 or y0 >= y1:
            return
        sy, sx = slice(y0 - self.y, y1 - self.y), slice(x0 - self.x, x1 - self.x)
        roi = frame[y0:y1, x0:x1]
        cv2.multiply(roi, keep[sy, sx], dst=roi, scale=1.0 / 255.0)
        cv2.add(roi, add[sy, sx], dst=roi)


def _finish(bgr: np.ndarray, mask: np.ndarray) -> np.ndarray:
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (3, 3), 0)
    return np.dstack([bgr.astype(np.float32), alpha]).astype(np.float32)


def conifer(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A pine seen from nearby: stacked tiers of dark needles on a thin trunk."""
    bgr = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cx = w // 2
    cv2.rectangle(bgr, (cx - max(2, w // 30), int(h * 0.75)), (cx + max(2, w // 30), h), (40, 55, 75), -1)
    cv2.rectangle(mask, (cx - max(2, w // 30), int(h * 0.75)), (cx + max(2, w // 30), h), 255, -1)
    tiers = 8
    for i in range(tiers):
        frac = i / tiers
        base_y = int(h * (0.85 - 0.8 * frac))
        half = int(w * 0.5 * (1.0 - frac * 0.85))
        top_y = int(base_y - h * 0.22)
        pts = np.array([[cx - half, base_y], [cx + half, base_y], [cx + int(rng.integers(-3, 4)), top_y]], np.int32)
        tone = rng.uniform(0.8, 1.15)
        cv2.fillPoly(bgr, [pts], (int(35 * tone), int(80 * tone), int(40 * tone)), cv2.LINE_AA)
        cv2.fillPoly(mask, [pts], 255, cv2.LINE_AA)
    specks = rng.integers(0, 2, (h, w), dtype=np.uint8) * 18
    return _finish(cv2.add(bgr, cv2.merge([specks // 2, specks, specks // 2])), mask)


def broadleaf(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A broadleaf tree: trunk and branches under a crown of overlapping leaf clusters."""
    bgr = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cx = w // 2
    tw = max(2, w // 18)
    cv2.rectangle(bgr, (cx - tw, int(h * 0.5)), (cx + tw, h), (45, 60, 85), -1)
    cv2.rectangle(mask, (cx - tw, int(h * 0.5)), (cx + tw, h), 255, -1)
    for _ in range(5):
        end = (int(cx + rng.uniform(-0.35, 0.35) * w), int(h * rng.uniform(0.2, 0.45)))
        cv2.line(bgr, (cx, int(h * 0.6)), end, (45, 60, 85), max(1, tw // 2))
        cv2.line(mask, (cx, int(h * 0.6)), end, 255, max(1, tw // 2))
    for _ in range(90):
        px = int(cx + rng.normal(0, 0.2) * w)
        py = int(h * (0.32 + rng.normal(0, 0.12)))
        r = int(w * rng.uniform(0.06, 0.13))
        tone = rng.uniform(0.7, 1.2)
        cv2.circle(bgr, (px, py), r, (int(40 * tone), int(105 * tone), int(60 * tone)), -1, cv2.LINE_AA)
        cv2.circle(
            bgr, (px - r // 3, py - r // 3), max(1, r // 2), (int(55 * tone), int(140 * tone), int(80 * tone)), -1
        )
        cv2.circle(mask, (px, py), r, 255, -1, cv2.LINE_AA)
    return _finish(bgr, mask)


def reeds(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A clump of reeds and grass on the near bank."""
    bgr = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(w * 0.8)):
        x0 = rng.uniform(0, w)
        height = h * rng.uniform(0.35, 1.0) * (1.0 - 0.5 * x0 / w)
        lean = rng.uniform(-0.25, 0.35) * height
        ts = np.linspace(0.0, 1.0, 6)
        pts = np.stack([x0 + lean * ts**2, h - height * ts], axis=1).astype(np.int32)
        tone = rng.uniform(0.7, 1.2)
        color = (int(40 * tone), int(120 * tone), int(rng.uniform(70, 120) * tone))
        cv2.polylines(bgr, [pts], False, color, 2, cv2.LINE_AA)
        cv2.polylines(mask, [pts], False, 255, 2, cv2.LINE_AA)
    return _finish(bgr, mask)
