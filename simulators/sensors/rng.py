"""Stateless, reproducible randomness: every draw is a pure function of a key and an index.

Models are sampled at whatever instants the agent's clock produces, so a draw must not depend on how many draws
came before it (as ``random.Random`` would); hashing (key, index) gives the same value for the same instant every
time and on every platform.
"""

from __future__ import annotations

import hashlib
import math

_MASK = (1 << 64) - 1


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any printable parts; unlike ``hash()`` it is the same in every process."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1


def _splitmix64(x: int) -> int:
    # SplitMix64 finaliser: cheap, and good enough mixing that neighbouring indices look independent.
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def uniform(key: int, index: int) -> float:
    """Uniform in [0, 1) for (key, index)."""
    return (_splitmix64(key ^ _splitmix64(index & _MASK)) >> 11) * (1.0 / (1 << 53))


def gauss(key: int, index: int) -> float:
    """Standard normal for (key, index), by Box-Muller on two independent uniforms."""
    u1 = uniform(key, 2 * index)
    u2 = uniform(key, 2 * index + 1)
    return math.sqrt(-2.0 * math.log1p(-u1)) * math.cos(2.0 * math.pi * u2)


def time_index(t_s: float) -> int:
    """The millisecond a scenario time falls in: draws at the same instant agree, draws 1 ms apart do not."""
    return round(t_s * 1000.0)
