"""Procedural surfaces the scenes are painted from: sky, ridges, tree canopy, concrete, water, asphalt."""

from __future__ import annotations

import cv2
import numpy as np

from simulators.camera.noise import noise_1d, tileable_noise

BGR = tuple[int, int, int]


def sky_gradient(h: int, w: int, top: BGR = (200, 145, 85), horizon: BGR = (238, 222, 205)) -> np.ndarray:
    """A clear sky, deep blue at the top to pale at the horizon (rows only, so it can be tiled sideways)."""
    t = (np.linspace(0.0, 1.0, h, dtype=np.float32) ** 0.7)[:, None]
    col = np.asarray(top, np.float32)[None, :] * (1.0 - t) + np.asarray(horizon, np.float32)[None, :] * t
    return np.ascontiguousarray(np.repeat(col[:, None, :], w, axis=1).clip(0, 255).astype(np.uint8))


def ridge_line(rng: np.random.Generator, w: int, base: float, amp: float, beta: float = 2.2) -> np.ndarray:
    """Row of a ridge's skyline per column."""
    return (base + amp * noise_1d(rng, w, beta)).astype(np.int32)


def below(line: np.ndarray, h: int) -> np.ndarray:
    """Boolean mask of the pixels on or below a skyline."""
    return np.arange(h, dtype=np.int32)[:, None] >= line[None, :]


def shaded(rng: np.random.Generator, h: int, w: int, color: BGR, depth: float, beta: float = 1.6) -> np.ndarray:
    """A flat colour modulated by fractal noise (``depth`` 0..1), float32 BGR."""
    n = tileable_noise(rng, h, w, beta)[:, :, None]
    return np.asarray(color, np.float32)[None, None, :] * (1.0 - depth + 2.0 * depth * n)


def canopy(rng: np.random.Generator, h: int, w: int, color: BGR, crown: float, haze: float = 0.0) -> np.ndarray:
    """Forest canopy seen from afar: rounded tree crowns, each lit from the upper left, uint8 BGR.

    Crowns under three pixels across would be drawn as specks, so far slopes get a fine leafy grain instead.
    """
    base = np.asarray(color, np.float32)
    if crown < 3.0:
        grain = tileable_noise(rng, h, w, 0.9)[:, :, None]
        img = shaded(rng, h, w, color, 0.15) * (0.9 + 0.2 * grain)
    else:
        img = shaded(rng, h, w, color, 0.25)
        count = int(h * w / (crown * crown) * 0.9)
        xs = rng.uniform(-crown, w + crown, count).astype(np.int32)
        ys = np.sort(rng.uniform(-crown, h + crown, count)).astype(np.int32)  # nearer (lower) crowns overlap
        radii = np.maximum(1, (rng.uniform(0.7, 1.3, count) * crown).astype(np.int32))
        tones = rng.uniform(0.6, 1.25, count)[:, None]
        shadow = (base[None, :] * tones * 0.6).clip(0, 255).tolist()
        lit = (base[None, :] * tones * 1.1).clip(0, 255).tolist()
        for x, y, r, c, hi in zip(xs.tolist(), ys.tolist(), radii.tolist(), shadow, lit, strict=True):
            cv2.circle(img, (x, y), r, c, -1)
            cv2.circle(img, (x - r // 4, y - r // 4), max(1, int(r * 0.6)), hi, -1)
    if haze > 0:
        img = img * (1.0 - haze) + np.asarray((215, 205, 195), np.float32) * haze
    return img.clip(0, 255).astype(np.uint8)


def paint_below(
    dst: np.ndarray, line: np.ndarray, rng: np.random.Generator, color: BGR, crown: float, haze: float = 0.0
) -> np.ndarray:
    """Paint canopy on and below a skyline (only the rows it can reach); returns the mask painted."""
    h, w = dst.shape[:2]
    top = int(max(0, min(h - 1, line.min())))
    mask = below(line, h)
    tex = canopy(rng, h - top, w, color, crown, haze)
    dst[top:][mask[top:]] = tex[mask[top:]]
    return mask


def concrete(rng: np.random.Generator, h: int, w: int, color: BGR = (165, 170, 172)) -> np.ndarray:
    """Weathered concrete: fine grain plus darker vertical streaks where water ran down, float32 BGR."""
    grain = tileable_noise(rng, h, w, 1.0)[:, :, None]
    streaks = tileable_noise(rng, h, w, 2.0, stretch_x=0.15)[:, :, None]
    shade = 0.85 + 0.2 * grain - 0.25 * np.clip(streaks - 0.55, 0.0, 1.0) * 2.0
    return np.asarray(color, np.float32)[None, None, :] * shade


def asphalt(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return shaded(rng, h, w, (88, 88, 92), 0.15, beta=0.8)


def water_texture(rng: np.random.Generator, h: int, w: int, color: BGR, sky: BGR = (225, 205, 185)) -> np.ndarray:
    """Tileable water surface: long horizontal ripples, darker troughs and glints of the sky, uint8 BGR."""
    ripples = tileable_noise(rng, h, w, 1.8, stretch_x=10.0)[:, :, None]
    fine = tileable_noise(rng, h, w, 1.3, stretch_x=7.0)[:, :, None]
    # Farther water (upper rows) reflects more of the bright sky than the water at the camera's feet.
    depth = np.linspace(1.15, 0.85, h, dtype=np.float32)[:, None, None]
    base = np.asarray(color, np.float32)[None, None, :] * (0.55 + 0.8 * ripples) * depth
    glint = np.clip((fine - 0.58) * 4.0, 0.0, 1.0) * 0.7
    out = (base * (1.0 - glint) + np.asarray(sky, np.float32)[None, None, :] * glint).clip(0, 255).astype(np.uint8)
    # Ripple crests: short horizontal glints over a dark trough, longer and wider nearer the camera (lower rows).
    light = tuple(int(v) for v in np.asarray(sky) * 0.9)
    dark = tuple(int(v) for v in np.asarray(color) * 0.55)
    for _ in range(int(h * w / 400)):
        y = int(rng.uniform(0, h))
        near = 0.3 + 0.7 * y / h
        x = int(rng.uniform(0, w))
        length = int(rng.uniform(6, 40) * near * h / 360.0) + 2
        cv2.line(out, (x, y + 1), (x + length, y + 1), dark, 1)
        cv2.line(out, (x + 1, y), (x + length - 1, y), light if rng.random() < 0.5 else dark, 1)
    return out


def paste(dst: np.ndarray, mask: np.ndarray, src: np.ndarray) -> None:
    """Copy ``src`` into ``dst`` where ``mask`` is true (both full frame)."""
    dst[mask] = src.clip(0, 255).astype(np.uint8)[mask] if src.dtype != np.uint8 else src[mask]
