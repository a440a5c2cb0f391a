"""Seeded randomness and procedural noise (tileable, so textures can scroll without seams)."""

from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, *keys: str | int) -> np.random.Generator:
    """An independent random stream per part of a clip, so adding a distractor does not change the others."""
    material = [seed & 0xFFFFFFFF, seed >> 32]
    for key in keys:
        material.append(zlib.crc32(key.encode()) if isinstance(key, str) else int(key) & 0xFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(material))


def tileable_noise(rng: np.random.Generator, h: int, w: int, beta: float = 2.0, stretch_x: float = 1.0) -> np.ndarray:
    """Fractal (1/f^beta) noise in [0, 1], float32, periodic in both axes.

    Made by shaping white noise in the Fourier domain, which is periodic by construction. ``stretch_x`` > 1 makes
    features longer horizontally (water ripples, fog banks).
    """
    white = rng.standard_normal((h, w))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :] * stretch_x
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    spectrum = np.fft.fft2(white) * radius ** (-beta / 2.0)
    spectrum[0, 0] = 0.0
    field = np.fft.ifft2(spectrum).real
    lo, hi = field.min(), field.max()
    return ((field - lo) / (hi - lo + 1e-12)).astype(np.float32)


def noise_1d(rng: np.random.Generator, n: int, beta: float = 2.0) -> np.ndarray:
    """Fractal noise along one axis, in [-1, 1] (ridge lines, tree lines)."""
    white = rng.standard_normal(n)
    freq = np.fft.rfftfreq(n)
    freq[0] = 1.0
    spectrum = np.fft.rfft(white) * freq ** (-beta / 2.0)
    spectrum[0] = 0.0
    line = np.fft.irfft(spectrum, n)
    return (line / (np.abs(line).max() + 1e-12)).astype(np.float32)


def tile2(texture: np.ndarray) -> np.ndarray:
    """The texture repeated 2x2, so any window no larger than one tile can be sliced at any offset."""
    reps = (2, 2) + (1,) * (texture.ndim - 2)
    return np.ascontiguousarray(np.tile(texture, reps))


def window(tiled: np.ndarray, ox: float, oy: float, h: int, w: int) -> np.ndarray:
    """A ``h`` x ``w`` view of a 2x2-tiled texture at offset (``ox``, ``oy``), wrapping around."""
    th, tw = tiled.shape[0] // 2, tiled.shape[1] // 2
    y0, x0 = int(oy) % th, int(ox) % tw
    return tiled[y0 : y0 + h, x0 : x0 + w]


def smooth_wave(t: float, phases: np.ndarray, freqs: np.ndarray) -> float:
    """A smooth pseudo-random signal in about [-1, 1]: a few sines at unrelated frequencies."""
    return float(np.sin(2.0 * np.pi * freqs * t + phases).sum() / np.sqrt(len(freqs) * 0.5) / 1.5)
