"""Flames: flickering tongues in layers (red-orange rim, orange body, yellow-white core) with a warm glow."""

from __future__ import annotations

import cv2
import numpy as np

GROW_S = 5.0  # flames grow from GROW_FROM of their height to full this long after they first show
GROW_FROM = 0.6
MIN_BOX_PX = 3

# (day colour BGR, night grey) per layer, outermost first; an IR camera sees flames as near-white.
LAYERS = (((20, 70, 215), 205), ((10, 150, 255), 235), ((140, 230, 255), 255))


class Flames:
    """Renders one fire's flames; ``draw`` returns the flames' box (x1, y1, x2, y2) or None."""

    def __init__(
        self, rng: np.random.Generator, foot: tuple[float, float], height_px: float, start_s: float, end_s: float | None
    ) -> None:
        self.x0, self.y0 = foot
        self.h = max(4.0, height_px)
        self.start_s, self.end_s = start_s, end_s
        n = int(rng.integers(5, 9))
        self.offsets = np.sort(rng.uniform(-0.45, 0.45, n)).astype(np.float32) * self.h
        self.heights = (1.0 - np.abs(self.offsets) / self.h * 1.2).clip(0.3, 1.0) * rng.uniform(0.7, 1.0, n)
        self.widths = rng.uniform(0.14, 0.24, n) * self.h
        self.freqs = rng.uniform(1.5, 4.0, (n, 3))
        self.phases = rng.uniform(0.0, 2.0 * np.pi, (n, 3))

    def active(self, t: float) -> bool:
        return t >= self.start_s and (self.end_s is None or t < self.end_s)

    def _flicker(self, t: float) -> np.ndarray:
        return np.sin(2.0 * np.pi * self.freqs * t + self.phases).mean(axis=1)

    def draw(self, frame: np.ndarray, t: float, night: bool) -> tuple[int, int, int, int] | None:
        if not self.active(t):
            return None
        grow = min(1.0, GROW_FROM + (1.0 - GROW_FROM) * (t - self.start_s) / GROW_S)
        h = self.h * grow
        fh, fw = frame.shape[:2]
        pad = int(h * 0.5) + 4
        bx0, bx1 = int(max(0, self.x0 - h * 0.8 - pad)), int(min(fw, self.x0 + h * 0.8 + pad))
        by0, by1 = int(max(0, self.y0 - h * 1.3 - pad)), int(min(fh, self.y0 + pad))
        if bx0 >= bx1 or by0 >= by1:
            return None
        shape = (by1 - by0, bx1 - bx0)
        masks = [np.zeros(shape, np.uint8) for _ in LAYERS]
        flick = self._flicker(t)
        sway = self._flicker(t * 0.7 + 3.0)
        us = np.linspace(0.0, 1.0, 9)
        base_y = self.y0 - by0
        offs = self.offsets * grow
        th = (h * self.heights * (0.75 + 0.3 * flick))[:, None]
        idx = np.arange(len(offs))[:, None]
        # A bulb low down narrowing to a licking tip, its edges rippling; tips sway more than bases.
        bulb = (1.0 - us) ** 1.2 * (1.0 + 1.5 * us)
        half = self.widths[:, None] * grow * bulb * (1.0 + 0.25 * np.sin(us * 7.0 + t * 9.0 + idx * 1.7))
        lick = (sway[:, None] * 0.3 + 0.12 * np.sin(us * 5.0 + t * 7.0 + idx)) * th * us**1.5
        cx = self.x0 - bx0 + offs[:, None] + lick
        cy = base_y - th * us
        left = np.stack([cx - half, cy], axis=2)
        right = np.stack([cx + half, cy], axis=2)[:, ::-1]
        outline = np.concatenate([left, right], axis=1)  # (tongues, points, 2)
        foot = np.stack([self.x0 - bx0 + offs, np.full_like(offs, base_y)], axis=1)[:, None, :]
        for layer, mask in enumerate(masks):
            # Inner layers: the same tongues shrunk towards their feet, so the core sits low and bright.
            pts = (foot + (outline - foot) * (1.0 - 0.3 * layer)).astype(np.int32)
            cv2.fillPoly(mask, list(pts), 255, cv2.LINE_AA)
        roi = frame[by0:by1, bx0:bx1]
        # The glow is blurred at a quarter of the size: it is smooth anyway and full-size blurs are slow.
        small = cv2.resize(masks[0], (max(1, shape[1] // 4), max(1, shape[0] // 4)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), max(0.5, h * 0.04))
        glow = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        glow = glow[:, :, None] / 255.0
        glow_color = np.array((200, 200, 200), np.float32) if night else np.array((0, 90, 200), np.float32)
        base = roi.astype(np.float32) + glow * glow_color * 0.8
        for (day_color, grey), mask in zip(LAYERS, masks, strict=True):
            a = mask.astype(np.float32)[:, :, None] / 255.0
            color = np.array((grey, grey, grey), np.float32) if night else np.array(day_color, np.float32)
            base = base * (1.0 - a) + color * a
        roi[:] = base.clip(0, 255).astype(np.uint8)
        rows = np.flatnonzero(masks[0].any(axis=1))
        cols = np.flatnonzero(masks[0].any(axis=0))
        if len(rows) == 0:
            return None
        box = (bx0 + int(cols[0]), by0 + int(rows[0]), bx0 + int(cols[-1]) + 1, by0 + int(rows[-1]) + 1)
        if box[2] - box[0] < MIN_BOX_PX or box[3] - box[1] < MIN_BOX_PX:
            return None
        return box
