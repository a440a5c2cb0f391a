"""A token bucket: the per-target rate limit, which delays deliveries and never drops them."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up; ``acquire`` waits for a token, never refuses."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self._at = time.monotonic()

    def wait_s(self) -> float:
        """Seconds until a token is free (0: one is free now)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
        self._at = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    async def acquire(self) -> None:
        while (wait := self.wait_s()) > 0:
            await asyncio.sleep(wait)
        self.tokens -= 1
