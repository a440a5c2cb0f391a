"""Whole-frame conditions: night / IR mode, rain, lightning flashes, IR-cut switching, camera shake, sensor noise."""

from __future__ import annotations

import cv2
import numpy as np

from simulators.camera.noise import smooth_wave, tile2


def ir_falloff(w: int, h: int) -> np.ndarray:
    """The IR illuminator's light on the scene: brightest in the middle, fading to the corners (x 1/255)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h * 0.55) / (h / 2)) ** 2
    return np.clip(255.0 * (1.15 - 0.35 * d2), 0, 255).astype(np.uint8)


def to_ir(frame: np.ndarray, night: bool, falloff: np.ndarray) -> np.ndarray:
    """An IR camera's picture: grey; at night dark and flat under the illuminator, by day (IR cut filter off) washed
    out."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if night:
        grey = cv2.multiply(cv2.convertScaleAbs(grey, alpha=0.5, beta=8), falloff, scale=1.0 / 255.0)
    else:
        grey = cv2.convertScaleAbs(grey, alpha=0.85, beta=30)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)


def dark_colour(frame: np.ndarray) -> np.ndarray:
    """A colour camera at night without IR: very dark."""
    return cv2.convertScaleAbs(frame, alpha=0.22, beta=2)


class Rain:
    """Slanted streaks over the picture and a veil that lowers its contrast."""

    def __init__(self, rng: np.random.Generator, w: int, h: int) -> None:
        s = h / 360.0
        layer = np.zeros((h, w), np.uint8)
        for _ in range(int(w * h / 180)):
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
            length = rng.uniform(6, 18) * s
            v = int(rng.uniform(35, 90))
            cv2.line(layer, (x, y), (int(x - length * 0.25), int(y + length)), v, 1, cv2.LINE_AA)
        self.tile = tile2(cv2.merge([layer, layer, layer]))
        self.w, self.h = w, h

    def draw(self, frame: np.ndarray, index: int) -> np.ndarray:
        # Drops move far between frames at camera rates, so each frame takes an unrelated window of the layer.
        ox, oy = (index * 7919) % self.w, (index * 104729) % self.h
        veiled = cv2.convertScaleAbs(frame, alpha=0.72, beta=42)
        return cv2.add(veiled, self.tile[oy : oy + self.h, ox : ox + self.w])


def flash_times(rng: np.random.Generator, seconds: float, mean_gap: float) -> list[tuple[float, float]]:
    """(start, end) of lightning flashes: sometimes a double stroke."""
    out = []
    t = float(rng.uniform(2.0, mean_gap))
    while t < seconds:
        dur = float(rng.uniform(0.15, 0.35))
        out.append((t, t + dur))
        if rng.random() < 0.4:
            out.append((t + dur + 0.2, t + dur + 0.2 + dur))
        t += float(rng.exponential(mean_gap)) + 1.0
    return out


def lightning(frame: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(frame, alpha=0.55, beta=135)


def switch_times(rng: np.random.Generator, seconds: float, mean_gap: float) -> list[float]:
    """Times at which the camera's IR-cut filter flips (colour <-> IR)."""
    out = []
    t = float(rng.uniform(8.0, 8.0 + mean_gap))
    while t < seconds:
        out.append(t)
        t += float(rng.exponential(mean_gap)) + 5.0
    return out


class Shake:
    """A wobbling camera (wind on the pole): smooth sway plus a little jitter, ``amplitude`` pixels at most."""

    def __init__(self, rng: np.random.Generator, amplitude: float) -> None:
        self.amp = amplitude
        self.freqs = rng.uniform(0.3, 2.5, (2, 4))
        self.phases = rng.uniform(0, 6.28, (2, 4))
        self.jitter = rng.uniform(-1.0, 1.0, (4096, 2))

    def offset(self, t: float, index: int) -> tuple[int, int]:
        jx, jy = self.jitter[index % len(self.jitter)]
        dx = smooth_wave(t, self.phases[0], self.freqs[0]) * 0.75 + jx * 0.25
        dy = smooth_wave(t, self.phases[1], self.freqs[1]) * 0.75 + jy * 0.25
        return round(float(np.clip(dx, -1, 1) * self.amp)), round(float(np.clip(dy, -1, 1) * self.amp))

    @staticmethod
    def apply(frame: np.ndarray, dx: int, dy: int) -> np.ndarray:
        """The frame moved by whole pixels, the uncovered edge filled by reflection (a sub-pixel warp costs 10x)."""
        if dx == 0 and dy == 0:
            return frame
        h, w = frame.shape[:2]
        dx, dy = max(-w + 1, min(w - 1, dx)), max(-h + 1, min(h - 1, dy))
        src = frame[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        return cv2.copyMakeBorder(
            src, max(0, dy), max(0, -dy), max(0, dx), max(0, -dx), borderType=cv2.BORDER_REFLECT101
        )


class SensorNoise:
    """Grain: a few pre-drawn noise frames cycled, applied with two saturating adds (cheap)."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, sigma: float) -> None:
        self.frames = []
        for _ in range(3):
            n = np.repeat(rng.standard_normal((h, w, 1), dtype=np.float32) * sigma, 3, axis=2)
            self.frames.append((np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)))

    def apply(self, frame: np.ndarray, index: int) -> np.ndarray:
        pos, neg = self.frames[(index * 3) % len(self.frames)]
        return cv2.subtract(cv2.add(frame, pos), neg)
