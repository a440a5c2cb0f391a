"""Moving things that must not raise an event: vehicles, birds, clouds and their shadows, fog, sun glare."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from simulators.camera.noise import smooth_wave, tileable_noise
from simulators.camera.scenes import Road, Scene

# Orange, red and yellow bodies are there on purpose: a small orange truck is a classic false fire.
PALETTE = [
    (230, 230, 230),
    (178, 180, 185),
    (40, 40, 42),
    (40, 40, 200),
    (20, 120, 240),
    (30, 200, 240),
    (160, 80, 30),
    (60, 120, 40),
]


def _schedule(rng: np.random.Generator, seconds: float, mean_gap: float, first: float = 0.0) -> np.ndarray:
    gaps = rng.exponential(mean_gap, int(seconds / mean_gap * 3) + 8)
    times = first + np.cumsum(gaps)
    return times[times < seconds + 30.0]


@dataclass
class _Vehicle:
    t0: float
    lane_y: int
    direction: int
    speed: float
    length: int
    height: int
    color: tuple[int, int, int]
    truck: bool


class Vehicles:
    """Cars and trucks driving both ways along the scene's road; headlights and tail lights at night."""

    def __init__(self, rng: np.random.Generator, road: Road, width: int, seconds: float) -> None:
        self.width = width
        self.items: list[_Vehicle] = []
        for i, t0 in enumerate(_schedule(rng, seconds, 6.0, first=-4.0)):
            truck = bool(rng.random() < 0.25)
            length = int(road.length * (1.5 if truck else 1.0) * rng.uniform(0.9, 1.1))
            color = PALETTE[4 if truck and rng.random() < 0.5 else int(rng.integers(len(PALETTE)))]
            self.items.append(
                _Vehicle(
                    t0=float(t0),
                    lane_y=road.lanes[i % 2],
                    direction=1 if i % 2 == 0 else -1,
                    speed=float(road.length * rng.uniform(1.5, 3.0)),
                    length=length,
                    height=max(4, int(road.length * (0.5 if truck else 0.38))),
                    color=color,
                    truck=truck,
                )
            )

    def _placed(self, t: float) -> list[tuple[_Vehicle, int]]:
        out = []
        for v in self.items:
            travelled = (t - v.t0) * v.speed
            if travelled < 0:
                continue
            x = int(-v.length + travelled) if v.direction > 0 else int(self.width - travelled)
            if -v.length < x < self.width:
                out.append((v, x))
        return out

    def draw_bodies(self, frame: np.ndarray, t: float) -> None:
        for v, x in self._placed(t):
            y, h, n = v.lane_y, v.height, v.length
            wheel = max(2, h // 4)
            top = y - h
            cv2.rectangle(frame, (x, top + h // 3), (x + n, y - wheel // 2), v.color, -1)
            if v.truck:  # cab at the front, box behind it
                cab = (x + n - n // 4, top) if v.direction > 0 else (x, top)
                cv2.rectangle(frame, cab, (cab[0] + n // 4, top + h // 3), v.color, -1)
                cv2.rectangle(frame, (x, top + h // 6), (x + n, top + h // 3), v.color, -1)
            else:
                cv2.rectangle(frame, (x + n // 5, top), (x + n - n // 5, top + h // 3), (90, 70, 60), -1)
            for wx in (x + n // 5, x + n - n // 5):
                cv2.circle(frame, (wx, y - wheel // 2), wheel, (25, 25, 25), -1)

    def draw_lights(self, frame: np.ndarray, t: float, grey: bool) -> None:
        for v, x in self._placed(t):
            y = v.lane_y - v.height // 2
            front = x + v.length if v.direction > 0 else x
            rear = x if v.direction > 0 else x + v.length
            r = max(2, v.height // 5)
            beam = (front + v.direction * v.length // 2, y + r)
            cv2.ellipse(frame, beam, (v.length // 2, r * 2), 0, 0, 360, (120, 120, 120), -1, cv2.LINE_AA)
            cv2.circle(frame, (front, y), r + 1, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(frame, (rear, y), r, (150, 150, 150) if grey else (40, 40, 230), -1, cv2.LINE_AA)


class Birds:
    """Small flocks crossing the sky, wings flapping."""

    def __init__(self, rng: np.random.Generator, scene: Scene, seconds: float) -> None:
        s = scene.height / 360.0
        self.width = scene.width
        self.flocks = []
        for t0 in _schedule(rng, seconds, 10.0, first=-5.0):
            n = int(rng.integers(1, 7))
            self.flocks.append(
                (
                    float(t0),
                    1 if rng.random() < 0.5 else -1,
                    float(rng.uniform(40, 90) * s),
                    float(rng.uniform(*scene.bird_band)),
                    rng.normal(0, 12 * s, (n, 2)),
                    rng.uniform(3.0, 5.0, n),
                    rng.uniform(0, 6.28, n),
                    float(rng.uniform(3.0, 6.0) * s),
                )
            )

    def draw(self, frame: np.ndarray, t: float) -> None:
        for t0, direction, speed, alt, offsets, freqs, phases, size in self.flocks:
            travelled = (t - t0) * speed
            if travelled < 0 or travelled > self.width + 200:
                continue
            cx = -60 + travelled if direction > 0 else self.width + 60 - travelled
            cy = alt + 6.0 * np.sin(t * 0.8 + t0)
            for (ox, oy), f, ph in zip(offsets, freqs, phases, strict=True):
                x, y = cx + ox, cy + oy
                flap = np.sin(2.0 * np.pi * f * t + ph) * size * 0.7
                pts = np.array([[x - size, y - flap], [x, y], [x + size, y - flap]], np.int32)
                cv2.polylines(frame, [pts], False, (40, 40, 45), max(1, int(size / 3)), cv2.LINE_AA)


class Clouds:
    """Clouds, white to rain-grey, drifting across the sky, and their shadows sliding over the land."""

    def __init__(self, rng: np.random.Generator, scene: Scene) -> None:
        h, w = max(8, scene.sky_rows), scene.width
        self.speed = float(rng.uniform(4.0, 10.0) * (scene.height / 360.0) * rng.choice([-1.0, 1.0]))
        cover = tileable_noise(rng, h, w, 3.0, stretch_x=2.5)
        shade = tileable_noise(rng, h, w, 2.6)[:, :, None]
        alpha = (np.clip((cover - 0.5) * 3.5, 0.0, 1.0) * np.linspace(1.0, 0.6, h)[:, None])[:, :, None]
        color = np.array((248, 248, 248), np.float32) * (1.0 - shade * 0.45) + np.array((10, 5, 0), np.float32) * shade
        sky = scene.sky[:h].astype(np.float32)
        self.sky_tile = np.tile((sky * (1.0 - alpha) + color * alpha).astype(np.uint8), (1, 2, 1))
        shadow = tileable_noise(rng, scene.height, w, 3.0, stretch_x=1.5)
        dark = (255.0 - np.clip((shadow - 0.55) * 3.0, 0.0, 1.0) * 95.0).astype(np.uint8)
        self.shadow_tile = np.tile(cv2.merge([dark, dark, dark]), (1, 2, 1))
        sky_mask = 255 - scene.land_mask
        self.sky255 = cv2.merge([sky_mask, sky_mask, sky_mask])
        self.rows = h

    def sky(self, t: float) -> np.ndarray:
        w = self.sky_tile.shape[1] // 2
        x0 = int(t * self.speed) % w
        return self.sky_tile[:, x0 : x0 + w]

    def shade(self, frame: np.ndarray, t: float) -> None:
        w = self.shadow_tile.shape[1] // 2
        x0 = int(t * self.speed * 1.3) % w
        win = cv2.max(self.shadow_tile[:, x0 : x0 + w], self.sky255)
        cv2.multiply(frame, win, dst=frame, scale=1.0 / 255.0)


class Fog:
    """A flat, wide bank of mist lying in a valley and drifting slowly sideways: grey like smoke, shaped unlike it."""

    def __init__(self, rng: np.random.Generator, scene: Scene) -> None:
        band = max(8, int(scene.height * 0.2))
        self.y0 = max(0, scene.fog_y - band // 2)
        self.y1 = min(scene.height, self.y0 + band)
        n = tileable_noise(rng, self.y1 - self.y0, scene.width, 2.6, stretch_x=5.0)
        profile = np.exp(-(((np.arange(self.y1 - self.y0) - band / 2) / (band / 3.5)) ** 2))[:, None]
        alpha = (profile * np.clip(0.15 + 0.9 * n, 0, 1) * 0.6).astype(np.float32)[:, :, None]
        # Stored as what to keep (x 1/255) and what to add, so drawing is two saturating uint8 operations.
        keep = np.repeat((1.0 - alpha) * 255.0, 3, axis=2).astype(np.uint8)
        add = (np.array((222, 222, 218), np.float32) * alpha).astype(np.uint8)
        self.keep, self.add = np.tile(keep, (1, 2, 1)), np.tile(add, (1, 2, 1))
        self.speed = float(rng.uniform(1.5, 4.0) * rng.choice([-1.0, 1.0]))

    def draw(self, frame: np.ndarray, t: float) -> None:
        w = self.keep.shape[1] // 2
        x0 = int(t * self.speed) % w
        roi = frame[self.y0 : self.y1]
        cv2.multiply(roi, self.keep[:, x0 : x0 + w], dst=roi, scale=1.0 / 255.0)
        cv2.add(roi, self.add[:, x0 : x0 + w], dst=roi)


class Glare:
    """Sun glare and lens flare (a warm bloom plus ghosts along the line through the image centre), slowly drifting;
    at night a floodlight's bloom instead."""

    def __init__(self, rng: np.random.Generator, scene: Scene) -> None:
        self.w, self.h = scene.width, scene.height
        r = int(scene.height * 0.55)
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float32)
        d = np.sqrt(xx * xx + yy * yy) / r
        bloom = (np.clip(1.0 - d, 0.0, 1.0) ** 2.2 + 2.5 * np.exp(-((d / 0.08) ** 2)))[:, :, None]
        self.warm = np.clip(bloom * np.array((90, 170, 255), np.float32), 0, 255).astype(np.uint8)
        self.white = np.repeat(np.clip(bloom * 255.0, 0, 255).astype(np.uint8), 3, axis=2)
        self.r = r
        self.sun = scene.sun
        self.lamp = (scene.sun[0], (scene.road.lanes[0] - int(0.12 * scene.height)) if scene.road else scene.sun[1])
        self.freqs = rng.uniform(0.01, 0.05, 3)
        self.phases = rng.uniform(0, 6.28, 3)
        self.ghost_at = (0.55, 1.15, 1.45, 1.8)
        self.ghosts = []
        for i in range(len(self.ghost_at)):
            radius = max(2, int(rng.uniform(0.02, 0.06) * scene.height))
            ghost = np.zeros((2 * radius + 3, 2 * radius + 3, 3), np.uint8)
            color = ((30, 50, 15), (40, 15, 40), (10, 35, 50), (35, 35, 20))[i % 4]
            cv2.circle(ghost, (radius + 1, radius + 1), radius, color, -1, cv2.LINE_AA)
            self.ghosts.append(ghost)

    def draw(self, frame: np.ndarray, t: float, night: bool) -> None:
        wave = smooth_wave(t, self.phases, self.freqs)
        if night:
            cx, cy, gain, bloom = self.lamp[0], self.lamp[1], 0.6, self.white
        else:
            cx = int(self.sun[0] + 0.03 * self.w * wave)
            cy = int(self.sun[1] + 0.02 * self.h * wave)
            gain, bloom = 0.8 + 0.2 * wave, self.warm
        _add_sprite(frame, bloom, cx - self.r, cy - self.r, gain)
        if not night:
            mx, my = self.w / 2.0, self.h / 2.0
            for f, sprite in zip(self.ghost_at, self.ghosts, strict=True):
                gx, gy = int(cx + (mx - cx) * f * 2), int(cy + (my - cy) * f * 2)
                half = sprite.shape[0] // 2
                _add_sprite(frame, sprite, gx - half, gy - half, gain)


def _add_sprite(frame: np.ndarray, sprite: np.ndarray, x0: int, y0: int, gain: float) -> None:
    """Add ``sprite`` x ``gain`` into ``frame`` with its top-left corner at (x0, y0), clipped to the frame."""
    fh, fw = frame.shape[:2]
    sh, sw = sprite.shape[:2]
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(fw, x0 + sw), min(fh, y0 + sh)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    roi = frame[fy0:fy1, fx0:fx1]
    cv2.addWeighted(roi, 1.0, sprite[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0], gain, 0.0, dst=roi)
