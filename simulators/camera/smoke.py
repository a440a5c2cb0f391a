"""A smoke plume: puffs that leave a source, rise, spread and drift downwind, textured by scrolling turbulence."""

from __future__ import annotations

import cv2
import numpy as np

from simulators.camera.noise import tile2, tileable_noise, window

LIFETIME_S = 14.0  # a puff's life; the plume reaches its full height after this long
PUFF_EVERY_S = 0.5
VISIBLE_ALPHA = 0.12  # the truth box covers pixels at least this opaque
MIN_BOX_PX = 6  # and only once the plume is at least this big each way


def _gaussian_sprite(n: int = 33) -> np.ndarray:
    g = cv2.getGaussianKernel(n, n / 5.0)
    k = (g @ g.T).astype(np.float32)
    return k / k.max()


class SmokePlume:
    """Renders one plume into frames; ``draw`` returns its visible box (x1, y1, x2, y2) or None."""

    def __init__(
        self,
        rng: np.random.Generator,
        foot: tuple[float, float],
        height_px: float,
        start_s: float,
        end_s: float | None,
        color: tuple[int, int, int],
        peak_alpha: float,
    ) -> None:
        self.x0, self.y0 = foot
        self.start_s, self.end_s = start_s, end_s
        self.rise = height_px / (LIFETIME_S * 0.65)  # px/s at the source; it slows to 30 % at the top
        self.wind = float(rng.uniform(0.3, 0.8) * rng.choice([-1.0, 1.0])) * self.rise
        self.r0 = max(2.0, height_px * 0.05)
        self.spread = height_px * 0.28 / LIFETIME_S
        # Each plume its own shade and a faint tint (bluish wood smoke, brownish dust), so no single grey means smoke.
        tint = rng.uniform(-8.0, 8.0) * np.array((1.0, 0.0, -1.0), np.float32)
        self.color = np.clip(np.asarray(color, np.float32) * rng.uniform(0.88, 1.08) + tint, 0, 255)
        self.peak = peak_alpha
        count = 4096
        self.jx = rng.normal(0.0, 1.0, count).astype(np.float32)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, count).astype(np.float32)
        self.size_jit = rng.uniform(0.7, 1.3, count).astype(np.float32)
        self.turbulence = tile2(tileable_noise(rng, 256, 256, 1.8))
        self.sprite = _gaussian_sprite()
        self._sizes: dict[int, np.ndarray] = {}

    def _puff(self, d: int) -> np.ndarray:
        if d not in self._sizes:
            self._sizes[d] = cv2.resize(self.sprite, (d, d), interpolation=cv2.INTER_LINEAR)
        return self._sizes[d]

    def active(self, t: float) -> bool:
        return t >= self.start_s and (self.end_s is None or t < self.end_s)

    def draw(self, frame: np.ndarray, t: float) -> tuple[int, int, int, int] | None:
        if not self.active(t):
            return None
        age = t - self.start_s
        n = int(age / PUFF_EVERY_S) + 1
        k = np.arange(max(0, n - int(LIFETIME_S / PUFF_EVERY_S) - 1), n)
        a = age - k * PUFF_EVERY_S
        keep = (a >= 0) & (a < LIFETIME_S)
        k, a = k[keep], a[keep]
        if len(k) == 0:
            return None
        idx = k % len(self.jx)
        u = a / LIFETIME_S
        ys = self.y0 - self.rise * a * (1.0 - 0.35 * u)
        wobble = np.sin(a * 1.3 + self.phase[idx]) * self.r0 * 2.0 * u + self.jx[idx] * self.r0 * 0.6
        xs = self.x0 + self.wind * a * (0.4 + 0.6 * u) + wobble
        rs = (self.r0 + self.spread * a) * self.size_jit[idx]
        ops = self.peak * np.minimum(1.0, a / 0.6) * (1.0 - u) ** 0.9
        fh, fw = frame.shape[:2]
        bx0 = int(max(0, np.floor((xs - rs).min())))
        by0 = int(max(0, np.floor((ys - rs).min())))
        bx1 = int(min(fw, np.ceil((xs + rs).max()) + 1))
        by1 = int(min(fh, np.ceil((ys + rs).max()) + 1))
        if bx0 >= bx1 or by0 >= by1:
            return None
        alpha = np.zeros((by1 - by0, bx1 - bx0), np.float32)
        for x, y, r, op in zip(xs, ys, rs, ops, strict=True):
            d = max(3, int(2 * r))
            px, py = int(x - d / 2) - bx0, int(y - d / 2) - by0
            sx0, sy0 = max(0, -px), max(0, -py)
            ex, ey = min(d, alpha.shape[1] - px), min(d, alpha.shape[0] - py)
            if sx0 >= ex or sy0 >= ey:
                continue
            alpha[py + sy0 : py + ey, px + sx0 : px + ex] += self._puff(d)[sy0:ey, sx0:ex] * float(op)
        # Turbulence scrolls upward with the smoke: the plume's texture moves, a cloud's or fog's does not.
        turb = window(self.turbulence, bx0 + t * 3.0, by0 + t * self.rise * 0.6, *alpha.shape)
        if turb.shape != alpha.shape:  # plume larger than the texture tile: stretch it
            turb = cv2.resize(window(self.turbulence, 0, t * self.rise * 0.6, 256, 256), alpha.shape[::-1])
        alpha = np.clip(alpha * (0.35 + 1.1 * turb), 0.0, 0.85)
        roi = frame[by0:by1, bx0:bx1]
        a3 = alpha[:, :, None]
        roi[:] = (roi * (1.0 - a3) + self.color * a3).astype(np.uint8)
        rows = np.flatnonzero((alpha >= VISIBLE_ALPHA).any(axis=1))
        cols = np.flatnonzero((alpha >= VISIBLE_ALPHA).any(axis=0))
        if len(rows) == 0:
            return None
        box = (bx0 + int(cols[0]), by0 + int(rows[0]), bx0 + int(cols[-1]) + 1, by0 + int(rows[-1]) + 1)
        if box[2] - box[0] < MIN_BOX_PX or box[3] - box[1] < MIN_BOX_PX:
            return None
        return box
