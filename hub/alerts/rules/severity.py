"""The severity scale every alert rule reports in, and thresholds that map a measured value onto it."""

from __future__ import annotations

import math
from enum import StrEnum
from itertools import pairwise

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Severity(StrEnum):
    """How urgent an alert is, lowest first (the X.733 alarm scale plus info).

    Members compare by this order, not alphabetically, so ``max()`` of severities is the most urgent one.
    Config files and messages carry the lower-case names.
    """

    INFO = "info"
    WARNING = "warning"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 4 for critical."""
        return _RANK[self]

    # str already defines ordering (alphabetical); these replace it for members of this enum only.
    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] < _RANK[other]

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] <= _RANK[other]

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] > _RANK[other]

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANK[self] >= _RANK[other]


_RANK = {s: i for i, s in enumerate(Severity)}


class SeverityThresholds(BaseModel):
    """The values at which a measurement becomes an alarm of each severity (reached means ``value >= threshold``).

    Leave a severity out to skip it; the ones given must rise with severity.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    warning: float | None = Field(None, description="Value at which the alarm is a warning")
    minor: float | None = Field(None, description="Value at which the alarm is minor")
    major: float | None = Field(None, description="Value at which the alarm is major")
    critical: float | None = Field(None, description="Value at which the alarm is critical")
    magnitude: bool = Field(
        False, description="Compare |value|: for quantities that matter in either direction (displacement)"
    )
    deadband: float = Field(
        0.0,
        ge=0,
        description="A severity is left only once the value is this far below its threshold, so a noisy value "
        "near a threshold does not raise and clear the alarm again and again",
    )

    @model_validator(mode="after")
    def _rising(self) -> SeverityThresholds:
        steps = self.steps()
        if not steps:
            raise ValueError("give at least one of warning, minor, major, critical")
        for (low, low_sev), (high, high_sev) in pairwise(steps):
            if not low < high:
                raise ValueError(f"{high_sev.value} ({high}) must be above {low_sev.value} ({low})")
        return self

    def steps(self) -> list[tuple[float, Severity]]:
        """(threshold, severity) for the severities given, lowest first."""
        given = (
            (self.warning, Severity.WARNING),
            (self.minor, Severity.MINOR),
            (self.major, Severity.MAJOR),
            (self.critical, Severity.CRITICAL),
        )
        return [(value, sev) for value, sev in given if value is not None]


def severity_for(value: float, thresholds: SeverityThresholds) -> Severity | None:
    """The highest severity whose threshold ``value`` reaches; None below every threshold."""
    if math.isnan(value):  # NaN reaches no threshold and would pass for a quiet instrument
        raise ValueError("value must be a number, not NaN")
    v = abs(value) if thresholds.magnitude else value
    reached = None
    for threshold, sev in thresholds.steps():
        if v >= threshold:
            reached = sev
    return reached


def severity_with_deadband(value: float, thresholds: SeverityThresholds, previous: Severity | None) -> Severity | None:
    """Like ``severity_for``, but a severity already reached is kept while the value stays within ``deadband``
    below its threshold (rising takes the new severity at once)."""
    now = severity_for(value, thresholds)
    if previous is None or thresholds.deadband == 0 or (now is not None and now >= previous):
        return now
    v = abs(value) if thresholds.magnitude else value
    for threshold, sev in reversed(thresholds.steps()):
        if sev <= previous and v >= threshold - thresholds.deadband:
            return sev if now is None or sev > now else now
    return now
