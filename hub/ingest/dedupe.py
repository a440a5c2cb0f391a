"""Remembering which sequence numbers each node has already delivered, in bounded memory.

A number is a duplicate only when we are sure we saw it: everything up to ``floor`` (seen without a gap) and
the recent numbers above it. Forgetting old numbers above a gap (which another hub in a shared subscription may
hold) can only let a repeat through, and a repeat overwrites the identical InfluxDB point: never a loss.
"""

from __future__ import annotations

import bisect


class SeqTracker:
    __slots__ = ("floor", "max_recent", "recent")

    def __init__(self, floor: int = 0, recent: list[int] | None = None, max_recent: int = 512) -> None:
        self.floor = floor
        self.recent: list[int] = sorted(recent or [])
        self.max_recent = max_recent

    def seen(self, seq: int) -> bool:
        if seq <= self.floor:
            return True
        i = bisect.bisect_left(self.recent, seq)
        return i < len(self.recent) and self.recent[i] == seq

    def add(self, seq: int) -> bool:
        """Record ``seq``; False if it was already seen (a duplicate)."""
        if self.seen(seq):
            return False
        if seq == self.floor + 1:
            self.floor = seq
            # Absorb the run that now joins the floor.
            i = 0
            while i < len(self.recent) and self.recent[i] == self.floor + 1:
                self.floor += 1
                i += 1
            del self.recent[:i]
        else:
            bisect.insort(self.recent, seq)
            if len(self.recent) > self.max_recent:
                del self.recent[0]
        return True

    def state(self) -> tuple[int, list[int]]:
        return self.floor, list(self.recent)


def to_ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted inclusive ranges covering ``seqs``: [1,2,3,7] -> [(1,3),(7,7)]."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out
