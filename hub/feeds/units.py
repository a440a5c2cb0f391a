"""The administrative-unit reference: GSO codes before and after the 2025 reorganisation, and the old→new mapping."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).with_name("data")
REORGANISATION = date(2025, 7, 1)  # QĐ 19/2025/QĐ-TTg: 34 provinces, no district level


class UnitLevel(StrEnum):
    PROVINCE = "province"
    COMMUNE = "commune"


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    level: UnitLevel
    province_code: str
    effective_from: date | None  # None: before the reference begins
    effective_to: date | None  # None: still in force
    lat: float | None = None
    lon: float | None = None

    @property
    def current(self) -> bool:
        return self.effective_to is None


class UnitError(ValueError):
    """A code that cannot be used; the message is the reason shown to the user."""


class UnitTableError(Exception):
    """The reference tables themselves are inconsistent (a data bug, not a feed problem)."""


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text.strip() else None


def _float(text: str) -> float | None:
    return float(text) if text.strip() else None


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(i + 2, row) for i, row in enumerate(csv.DictReader(fh))]


class AdminUnits:
    """Current units by code, retired units by code, and successors of each retired code per level."""

    def __init__(self, units: list[Unit], mapping: dict[tuple[UnitLevel, str], list[str]]) -> None:
        self.units = units
        self.current: dict[str, Unit] = {}
        self.retired: dict[str, Unit] = {}
        for u in units:
            if u.current:
                if u.code in self.current:
                    raise UnitTableError(f"two current units share code {u.code}")
                self.current[u.code] = u
            else:
                self.retired[u.code] = u
        self.successors = mapping
        for (level, old), news in mapping.items():
            for new in news:
                target = self.current.get(new)
                if target is None or target.level is not level:
                    raise UnitTableError(f"mapping {level} {old} -> {new}: {new} is not a current {level}")

    def at(self, day: date) -> list[Unit]:
        """The units in force on ``day`` (what the reference says the map looked like then)."""
        return [
            u
            for u in self.units
            if (u.effective_from is None or u.effective_from <= day)
            and (u.effective_to is None or day <= u.effective_to)
        ]

    def resolve(self, code: object, period_start: date | None = None) -> Unit:
        """The current unit that data keyed by ``code`` belongs to, or UnitError saying why there is none.

        ``period_start``: the first day of the period the data is about. From the reorganisation on, a retired code
        is refused instead of mapped: its unit no longer exists, so a figure under it belongs to no one.
        """
        text = str(code).strip() if code is not None else ""
        if not text:
            raise UnitError("empty")
        if not text.isdigit() or not text.isascii():
            raise UnitError(f"{text[:40]!r} is not a GSO code (digits only)")
        if len(text) == 3:
            raise UnitError(
                f"{text} is a district code: the district level was abolished on {REORGANISATION}; "
                "report by province (2 digits) or commune (5 digits)"
            )
        if len(text) not in (2, 5):
            raise UnitError(f"{text} is not a GSO code: provinces have 2 digits, communes 5 (got {len(text)})")
        level = UnitLevel.PROVINCE if len(text) == 2 else UnitLevel.COMMUNE
        unit = self.current.get(text)
        if unit is not None and unit.level is level:
            return unit
        old = self.retired.get(text)
        news = self.successors.get((level, text), [])
        if old is None and not news:
            hint = ""
            if level is UnitLevel.PROVINCE and 1 <= int(text) <= 34:
                hint = " (sequential 01-34 province numbering is not GSO coding)"
            elif level is UnitLevel.COMMUNE:
                hint = " (the commune list is a sample: add the unit to hub/feeds/data/communes_sample.csv)"
            raise UnitError(f"unknown {level} code {text}{hint}")
        if not news:
            raise UnitError(f"{level} code {text} ({old.name if old else '?'}) is retired and has no mapping")
        if len(news) > 1:
            names = ", ".join(f"{n} ({self.current[n].name})" for n in news)
            raise UnitError(
                f"{level} code {text} was split between {names} on {REORGANISATION}: a value cannot be divided "
                "between them; report by the new codes"
            )
        new = self.current[news[0]]
        if period_start is not None and period_start >= REORGANISATION:
            # Mapping it would put a part's figure under the merged unit, over the one reported for the whole.
            raise UnitError(
                f"{level} code {text} ({old.name if old else '?'}) was retired on {REORGANISATION}, merged into "
                f"{new.code} ({new.name}): report periods from {REORGANISATION} on under {new.code}, with the figure "
                f"of the whole of {new.code}"
            )
        return new


def load_units(data_dir: Path | str | None = None) -> AdminUnits:
    """The reference tables under ``data_dir`` (default: the ones shipped in hub/feeds/data)."""
    return _load(Path(data_dir) if data_dir else DATA_DIR)


@lru_cache(maxsize=4)
def _load(root: Path) -> AdminUnits:
    units: list[Unit] = []
    for line, row in _rows(root / "provinces_2025.csv"):
        units.append(_province(row, line, current=True))
    for line, row in _rows(root / "provinces_pre2025.csv"):
        units.append(_province(row, line, current=False))
    for line, row in _rows(root / "communes_sample.csv"):
        try:
            units.append(
                Unit(
                    code=row["code"],
                    name=row["name"],
                    level=UnitLevel.COMMUNE,
                    province_code=row["province_code"],
                    effective_from=_date(row["effective_from"]),
                    effective_to=_date(row["effective_to"]),
                    lat=_float(row["lat"]),
                    lon=_float(row["lon"]),
                )
            )
        except (KeyError, ValueError) as exc:
            raise UnitTableError(f"communes_sample.csv line {line}: {exc}") from None
    mapping: dict[tuple[UnitLevel, str], list[str]] = defaultdict(list)
    for line, row in _rows(root / "mapping_2025.csv"):
        try:
            mapping[(UnitLevel(row["level"]), row["old_code"])].append(row["new_code"])
        except (KeyError, ValueError) as exc:
            raise UnitTableError(f"mapping_2025.csv line {line}: {exc}") from None
    return AdminUnits(units, dict(mapping))


def _province(row: dict[str, str], line: int, current: bool) -> Unit:
    try:
        return Unit(
            code=row["code"],
            name=row["name"],
            level=UnitLevel.PROVINCE,
            province_code=row["code"],
            effective_from=_date(row.get("effective_from", "")) if current else None,
            effective_to=None if current else _date(row["effective_to"]),
            lat=_float(row.get("lat", "")),
            lon=_float(row.get("lon", "")),
        )
    except (KeyError, ValueError) as exc:
        raise UnitTableError(f"province table line {line}: {exc}") from None
