"""The indicator catalogue (hub/feeds/data/indicators.csv): unit, direction, plan kind and additivity per code."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hub.feeds.anomaly import Direction, PlanKind
from hub.feeds.units import DATA_DIR


@dataclass(frozen=True, slots=True)
class IndicatorInfo:
    code: str
    name: str
    unit: str
    direction: Direction
    plan_kind: PlanKind
    additive: bool


# An indicator missing from the catalogue: any plan is a target, and values of merged units are not added up.
UNKNOWN = IndicatorInfo("", "", "", Direction.NEUTRAL, PlanKind.TARGET, additive=False)


@lru_cache(maxsize=4)
def load_catalogue(path: Path = DATA_DIR / "indicators.csv") -> dict[str, IndicatorInfo]:
    out: dict[str, IndicatorInfo] = {}
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out[row["code"]] = IndicatorInfo(
                code=row["code"],
                name=row["name"],
                unit=row["unit"],
                direction=Direction(row["direction"] or "neutral"),
                plan_kind=PlanKind(row["plan_kind"] or "target"),
                additive=row["additive"].strip().lower() == "yes",
            )
    return out


def info(code: str) -> IndicatorInfo:
    """Catalogue entry for an indicator code (a breakdown ``code[...]`` shares its code's entry)."""
    return load_catalogue().get(code.split("[", 1)[0], UNKNOWN)


def unit_key(unit: str) -> str:
    """A unit as compared: Vietnamese typed on different systems comes precomposed or with combining marks."""
    return " ".join(unicodedata.normalize("NFC", unit).casefold().split())
