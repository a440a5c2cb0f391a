"""The flags a reading gets and the checks that give them (Delft-FEWS: reliable / doubtful / unreliable)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Flag(StrEnum):
    """A reading's quality. Members compare by badness, so ``max()`` of flags is the worst."""

    GOOD = "good"
    SUSPECT = "suspect"
    BAD = "bad"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Flag):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Flag):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Flag):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Flag):
            return NotImplemented
        return self.rank >= other.rank


_RANK = {Flag.GOOD: 0, Flag.SUSPECT: 1, Flag.BAD: 2}


class CheckName(StrEnum):
    """Which check failed. In the order the checker runs them; the first of the worst flags names a verdict."""

    HARD_LIMIT = "hard_limit"
    SOFT_LIMIT = "soft_limit"
    INTENSITY = "intensity"
    RATE_OF_CHANGE = "rate_of_change"
    SPIKE = "spike"
    FLAT_LINE = "flat_line"
    DUPLICATE = "duplicate"
    GAP = "gap"


@dataclass(frozen=True)
class Finding:
    """One failed check: the flag it gives, which check, and why in words an operator reads."""

    flag: Flag
    check: CheckName
    detail: str


@dataclass(frozen=True)
class Gap:
    """No reading between ``after`` and ``before`` for longer than the sensor's allowance (an event, not a flag)."""

    after: datetime
    before: datetime
    interval_s: float
    missing: int  # readings expected in between and not received

    @property
    def duration_s(self) -> float:
        return (self.before - self.after).total_seconds()
