"""Forest-fire danger: the Nesterov index P and levels I-V (NĐ 156/2018/NĐ-CP Điều 46, TT 25/2019/TT-BNNPTNT Điều 8).

P is the sum, over the days since the last day with at least ``rain_reset_mm`` of rain, of t13 x d13: the air
temperature at 13:00 local time (°C) times the saturation deficit at 13:00 (hPa).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.rules.base import LOCAL_TZ, Text, require_aware, require_finite
from plumbing.configfile import load_yaml_model

T = TypeVar("T")

# Magnus-Tetens saturation vapour pressure over water, in the Tetens (1930) / Murray (1967) form
#   e_s(t) = A * 10 ** (B * t / (t + C))
# A = 6.1078 hPa is e_s at 0 °C; with B = 7.5 and C = 237.3 °C it stays within 0.15 % of the IAPWS (Wagner-Pruss)
# curve from 0 to 50 °C, the range of 13:00 temperatures in Vietnam. (In base e the same curve has 17.27 for B.)
MAGNUS_A_HPA = 6.1078
MAGNUS_B = 7.5
MAGNUS_C_DEGC = 237.3

DEFAULT_READING_TOLERANCE = timedelta(minutes=30)
LEVELS = ("I", "II", "III", "IV", "V")


def saturation_vapour_pressure_hpa(t_c: float) -> float:
    """e_s at ``t_c`` °C, hPa (Magnus-Tetens, constants above)."""
    require_finite(t_c, "temperature")
    return MAGNUS_A_HPA * 10 ** (MAGNUS_B * t_c / (t_c + MAGNUS_C_DEGC))


def saturation_deficit_hpa(t_c: float, rh_pct: float) -> float:
    """d = e_s - e = e_s * (1 - RH/100), hPa.

    RH is clamped to 0-100 %: capacitive sensors read a few percent over 100 in fog, and that means no deficit,
    not a negative one.
    """
    require_finite(rh_pct, "relative humidity")
    rh = min(100.0, max(0.0, rh_pct))
    return saturation_vapour_pressure_hpa(t_c) * (1.0 - rh / 100.0)


def daily_term(t13: float, rh13: float) -> float:
    """One day's addition to P: t13 x d13. Never negative: below 0 °C a day adds nothing (as in Nesterov's
    original index, which sums positive temperatures only)."""
    return max(0.0, t13 * saturation_deficit_hpa(t13, rh13))


class FireDangerBands(BaseModel):
    """Where P crosses from one fire-danger level to the next.

    ``upper_bounds`` are the highest P of levels I-IV; above the last is V. Each published upper value belongs to
    its own band and anything above it to the next: with the defaults 1,000 is I (the law: I below 1,000, II from
    1,001, so 1,000 itself is unassigned and the lower band is taken), 1,000.5 is II, 10,000 is IV, 10,000.5 is V.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    upper_bounds: tuple[float, float, float, float] = Field(
        (1000.0, 2500.0, 5000.0, 10000.0),
        description="Highest P of levels I, II, III and IV (TT 25/2019 defaults); a province may publish its own",
    )

    @model_validator(mode="after")
    def _rising(self) -> FireDangerBands:
        b = self.upper_bounds
        if not 0 < b[0] < b[1] < b[2] < b[3]:
            raise ValueError(f"upper_bounds must be positive and rise strictly: {list(b)}")
        return self


class NesterovConfig(BaseModel):
    """One province's fire-danger settings (provinces publish their own lookup tables)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    province: Text = Field(description="Province (name or GSO code) these settings are for")
    source: Text = Field("TT 25/2019/TT-BNNPTNT Điều 8", description="Where the rain threshold and bands come from")
    rain_reset_mm: float = Field(
        5.0, gt=0, description="A day with at least this much rain resets P to 0 (5 mm; 7 mm proposed in studies)"
    )
    bands: FireDangerBands = Field(default_factory=FireDangerBands, description="P thresholds of levels I-V")
    reading_tolerance: timedelta = Field(
        DEFAULT_READING_TOLERANCE,
        gt=timedelta(0),
        description="How far from 13:00 local time a reading may be and still stand for the 13:00 observation",
    )


class NesterovState(BaseModel):
    """The running index of one area, carried from day to day by the engine (and persisted by it)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    p: float = Field(0.0, ge=0, description="Accumulated index P")
    last_day: date | None = Field(None, description="Local date of the last day folded into P")


def step(
    state: NesterovState, day: date, t13: float, rh13: float, rain_mm_day: float, config: NesterovConfig
) -> NesterovState:
    """Fold one local day into the index.

    A day with ``rain_mm_day >= config.rain_reset_mm`` sets P to 0 and its own t13 x d13 is not added: the sum
    runs over the days *after* the last such rain, so the day after the rain is the first term. Otherwise the
    day's term is added. Days must come in order; a missing day is simply not added (P then reads low), and
    ``last_day`` lets the caller see the gap.
    """
    if state.last_day is not None and day <= state.last_day:
        raise ValueError(f"day {day} is not after the last day folded in ({state.last_day})")
    require_finite(rain_mm_day, "rain")
    if rain_mm_day < 0:
        raise ValueError(f"rain must be >= 0 mm, not {rain_mm_day}")
    if rain_mm_day >= config.rain_reset_mm:
        return NesterovState(p=0.0, last_day=day)
    return NesterovState(p=state.p + daily_term(t13, rh13), last_day=day)


def fire_danger_level(p: float, bands: FireDangerBands) -> int:
    """Fire-danger level 1-5 (I-V) for index ``p``; see FireDangerBands for the boundary values."""
    require_finite(p, "Nesterov index")
    if p < 0:
        raise ValueError(f"Nesterov index cannot be negative: {p}")
    return 1 + sum(1 for bound in bands.upper_bounds if p > bound)


def reading_at_local_13(
    samples: Iterable[tuple[datetime, T]],
    day: date,
    tolerance: timedelta = DEFAULT_READING_TOLERANCE,
    tz: tzinfo = LOCAL_TZ,
) -> tuple[datetime, T] | None:
    """The sample nearest 13:00 local time on ``day`` and within ``tolerance`` of it; None if there is none.

    Samples carry aware (UTC) timestamps; a value may be anything (a number, a (t, RH) pair). Of two samples
    equally near, the earlier wins, so the answer does not depend on the order they come in.
    """
    target = datetime.combine(day, time(13), tzinfo=tz)
    best: tuple[datetime, T] | None = None
    best_key: tuple[timedelta, datetime] | None = None
    for ts, value in samples:
        require_aware(ts, "sample timestamp")
        gap = abs(ts - target)
        if gap > tolerance:
            continue
        key = (gap, ts)
        if best_key is None or key < best_key:
            best, best_key = (ts, value), key
    return best


def load_nesterov_config(path: Path | str) -> NesterovConfig:
    """A province's YAML file (see ``hub/alerts/sample_rules/nesterov.yaml``)."""
    return load_yaml_model(path, NesterovConfig)


def level_name(level: int) -> str:
    """'I' to 'V'."""
    if not 1 <= level <= len(LEVELS):
        raise ValueError(f"fire-danger level must be 1-5, not {level}")
    return LEVELS[level - 1]
