"""Feed files for bench.feeds: rows of each kind that the importers accept, written as CSV, JSON or XLSX.

Every row is keyed by a current unit of the reference in use (the shipped ``hub/feeds/data``, or the copy
``extended_reference`` adds communes to) and an indicator of the catalogue, so that a file is accepted whole; keys
never repeat within a file (one point per row for indicators and public services). ``rows(..., reject=True)`` makes
the last row one the kind rejects, as a clerk's typo would, and puts the rest in 2150 so any stray write shows.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl

from hub.feeds.indicators import load_catalogue
from hub.feeds.periods import VN_TZ
from hub.feeds.units import DATA_DIR, AdminUnits
from hub.store.line_protocol import line

KINDS = ("indicators", "public_service", "feedback")
FORMATS = ("csv", "json", "xlsx")

COLUMNS = {
    "indicators": [
        "indicator_code",
        "indicator_name",
        "admin_code",
        "period_type",
        "period",
        "value",
        "plan",
        "unit",
        "breakdown",
        "source_agency",
        "status",
    ],
    "public_service": [
        "admin_code",
        "period_type",
        "period",
        "received",
        "carried_over",
        "resolved_early",
        "resolved_on_time",
        "resolved_late",
        "in_progress_on_time",
        "in_progress_late",
        "received_online",
        "satisfaction_pct",
    ],
    "feedback": [
        "record_id",
        "received_at",
        "admin_code",
        "category",
        "status",
        "resolved_at",
        "handling_unit",
        "channel",
        "lat",
        "lon",
        "summary",
    ],
}

CATEGORIES = ("road_damage", "illegal_construction", "encroachment", "environment", "flooding", "lighting")
STATUSES = ("received", "processing", "resolved", "resolved", "rejected")  # resolved twice: the common outcome
CHANNELS = ("1022", "app", "zalo", "web")
# The month the generated periods end with; periods run backwards from it so a bigger file reaches further back.
LAST_YEAR, LAST_MONTH = 2025, 12
# Rejection runs use periods and days this far in the future, so that any point they wrote would be seen.
REJECT_YEAR = 2150


PERIODS = 12  # monthly periods per series at least: a year, so the change and MAD anomaly checks have history


def _months_back(n: int, last_year: int) -> tuple[int, int]:
    months = last_year * 12 + LAST_MONTH - 1 - n
    return months // 12, months % 12 + 1


def _periods(n: int, series: int) -> int:
    """Months per series: a year, or as many as it takes to give ``n`` rows distinct keys."""
    return max(PERIODS, math.ceil(n / max(series, 1)))


def indicator_rows(units: AdminUnits, n: int, seed: int, last_year: int = LAST_YEAR) -> Iterator[dict[str, Any]]:
    """Monthly values of the catalogue's indicators, series by series (unit x indicator), ``n`` rows in all."""
    rng = random.Random(seed)
    catalogue = load_catalogue()
    series = [(c, ind) for c in sorted(units.current) for ind in sorted(catalogue)]
    months = _periods(n, len(series))
    for i in range(n):
        code, ind = series[i // months]
        if i % months == 0:
            base = rng.uniform(50, 5000)
        year, month = _months_back(i % months, last_year)
        cat = catalogue[ind]
        value = round(base * rng.uniform(0.9, 1.1), 2)
        if rng.random() < 0.01:
            value = round(value * 3, 2)  # a jump for the MAD check to find now and then
        plan: float | str = ""
        if cat.plan_kind.value == "budget" or ind in ("budget_revenue", "public_investment_disbursed"):
            plan = round(base * rng.uniform(0.95, 1.2), 2)
        yield {
            "indicator_code": ind,
            "indicator_name": cat.name,
            "admin_code": code,
            "period_type": "M",
            "period": f"{year:04d}-{month:02d}",
            "value": value,
            "plan": plan,
            "unit": "",
            "breakdown": "",
            "source_agency": "Cục Thống kê (bench)",
            "status": "official",
        }


def service_rows(units: AdminUnits, n: int, seed: int, last_year: int = LAST_YEAR) -> Iterator[dict[str, Any]]:
    """Monthly one-stop dossier counts whose parts add up (QĐ 766), unit by unit, ``n`` rows in all."""
    rng = random.Random(seed)
    codes = sorted(units.current)
    months = _periods(n, len(codes))
    for i in range(n):
        code = codes[i // months]
        year, month = _months_back(i % months, last_year)
        received = rng.randint(50, 12_000)
        carried = rng.randint(0, received // 10)
        left = received + carried
        parts = []
        for share in (0.2, 0.6, 0.05, 0.1):
            part = min(left, int((received + carried) * share * rng.uniform(0.8, 1.2)))
            parts.append(part)
            left -= part
        parts.append(left)  # in progress late: whatever is left, so the parts add up
        yield {
            "admin_code": code,
            "period_type": "M",
            "period": f"{year:04d}-{month:02d}",
            "received": received,
            "carried_over": carried,
            "resolved_early": parts[0],
            "resolved_on_time": parts[1],
            "resolved_late": parts[2],
            "in_progress_on_time": parts[3],
            "in_progress_late": parts[4],
            "received_online": rng.randint(0, received),
            "satisfaction_pct": round(rng.uniform(80, 100), 1),
        }


def feedback_rows(
    units: AdminUnits, n: int, seed: int, prefix: str, days: int = 90, last_year: int = LAST_YEAR
) -> Iterator[dict[str, Any]]:
    """Citizen reports on random units over the last ``days`` days of the generated year, ``n`` in all."""
    rng = random.Random(seed)
    codes = sorted(units.current)
    end = datetime(last_year, LAST_MONTH, 31, 23, 0, tzinfo=VN_TZ)
    for i in range(n):
        unit = units.current[codes[rng.randrange(len(codes))]]
        received = end - timedelta(minutes=rng.randrange(days * 24 * 60))
        status = rng.choice(STATUSES)
        resolved = received + timedelta(hours=rng.uniform(1, 240)) if status == "resolved" else None
        yield {
            "record_id": f"{prefix}-{i:07d}",
            "received_at": received.isoformat(timespec="seconds"),
            "admin_code": unit.code,
            "category": rng.choice(CATEGORIES),
            "status": status,
            "resolved_at": resolved.isoformat(timespec="seconds") if resolved else "",
            "handling_unit": f"UBND {unit.name}",
            "channel": rng.choice(CHANNELS),
            "lat": unit.lat if unit.lat is not None else "",
            "lon": unit.lon if unit.lon is not None else "",
            "summary": "Phản ánh của người dân qua tổng đài 1022",
        }


def bad_row(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """The row with one mistake the kind rejects (the reasons a province's clerk would meet)."""
    bad = dict(row)
    if kind == "indicators":
        bad["admin_code"] = "001"  # a district code: the district level was abolished on 2025-07-01
    elif kind == "public_service":
        bad["in_progress_late"] = int(bad["in_progress_late"]) + 1  # the parts no longer add up
    else:
        bad["status"], bad["resolved_at"] = "resolved", ""  # resolved without a resolution time
    return bad


def rows(
    kind: str, units: AdminUnits, n: int, seed: int, prefix: str = "BENCH", reject: bool = False
) -> list[dict[str, Any]]:
    """``n`` rows of ``kind``; with ``reject``, in the far future and with the last row bad."""
    last_year = REJECT_YEAR if reject else LAST_YEAR
    if kind == "indicators":
        out = list(indicator_rows(units, n, seed, last_year))
    elif kind == "public_service":
        out = list(service_rows(units, n, seed, last_year))
    elif kind == "feedback":
        out = list(feedback_rows(units, n, seed, prefix, last_year=last_year))
    else:
        raise ValueError(f"unknown feed kind {kind!r}")
    if reject and out:
        out[-1] = bad_row(kind, out[-1])
    return out


def write(path: Path, kind: str, records: list[dict[str, Any]]) -> Path:
    """The rows as a feed file of format version 1, in the format the suffix names."""
    fmt = path.suffix.lstrip(".")
    preamble = f"# iocgw-feed: kind={kind}; format_version=1"
    columns = COLUMNS[kind]
    if fmt == "csv":
        out = io.StringIO()
        out.write(preamble + "\n")
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        path.write_text(out.getvalue(), encoding="utf-8")
    elif fmt == "json":
        # An empty cell of a spreadsheet is a missing key in JSON.
        body = [{k: v for k, v in r.items() if v != ""} for r in records]
        path.write_text(json.dumps({"kind": kind, "format_version": 1, "rows": body}, ensure_ascii=False))
    elif fmt == "xlsx":
        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("feed")
        sheet.append([preamble])
        sheet.append(columns)
        for r in records:
            sheet.append([None if r[c] == "" else r[c] for c in columns])
        book.save(path)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return path


REFERENCE_FILES = (
    "provinces_2025.csv",
    "provinces_pre2025.csv",
    "communes_sample.csv",
    "mapping_2025.csv",
    "indicators.csv",
)
FIRST_BENCH_COMMUNE = 40_000  # above the shipped sample's codes, so the added communes never collide with them


def extended_reference(dest: Path, communes: int, seed: int = 7) -> Path:
    """A copy of the shipped admin-unit tables with ``communes`` more current communes, spread over the 34
    provinces (what docs/feeds.md asks a province to do with its official list); 0: the tables as shipped."""
    if communes < 0 or FIRST_BENCH_COMMUNE + communes > 100_000:
        raise ValueError(f"--communes must be 0 to {100_000 - FIRST_BENCH_COMMUNE}")
    dest.mkdir(parents=True, exist_ok=True)
    for name in REFERENCE_FILES:
        shutil.copyfile(DATA_DIR / name, dest / name)
    with (DATA_DIR / "provinces_2025.csv").open(encoding="utf-8", newline="") as fh:
        provinces = list(csv.DictReader(fh))
    rng = random.Random(seed)
    with (dest / "communes_sample.csv").open("a", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        for i in range(communes):
            p = provinces[i % len(provinces)]
            lat = float(p["lat"]) + rng.uniform(-0.5, 0.5)
            lon = float(p["lon"]) + rng.uniform(-0.5, 0.5)
            code = f"{FIRST_BENCH_COMMUNE + i:05d}"
            writer.writerow([code, f"Xã Bench {i + 1}", p["code"], "2025-07-01", "", f"{lat:.4f}", f"{lon:.4f}"])
    return dest


def hazard_lines(units: AdminUnits, n: int, now_ms: int, seed: int = 11) -> list[str]:
    """``n`` points shaped like the alert engine's (docs/alerts.md) over the last 23 hours, on random current
    communes (provinces when there are none): flood stations, rain gauges, fire danger, risk levels and a few
    dam-safety alarms, so that the merged view has hazards to read."""
    rng = random.Random(seed)
    communes = sorted(c for c, u in units.current.items() if u.level.value == "commune")
    areas = communes or sorted(units.current)
    out = []
    for i in range(n):
        area = areas[rng.randrange(len(areas))]
        ts = now_ms - rng.randrange(23 * 3600 * 1000)
        pick = i % 20
        if pick < 8:
            tags = {"station_id": f"st-{area}", "area": area}
            fields: dict[str, float | int | bool | str] = {"level": rng.choice((0, 0, 0, 1, 2, 3)), "stage_m": 4.2}
            out.append(line("flood_level", tags, fields, ts))
        elif pick < 14:
            fields = {"acc_12h_mm": 40.0, "acc_24h_mm": 90.0, "level": rng.choice((0, 0, 1, 2))}
            out.append(line("rain_accumulation", {"gauge_id": f"rg-{area}", "area": area}, fields, ts))
        elif pick < 17:
            fields = {"p": 1500.0, "level": rng.randint(1, 5)}
            out.append(line("fire_danger", {"area_id": f"fa-{area}", "area": area}, fields, ts))
        elif pick < 19:
            fields = {"level": rng.randint(0, 3), "colour": "", "hazards": 1}
            out.append(line("risk_level", {"area": area}, fields, ts))
        else:
            severity = rng.choice(("warning", "major", "critical"))
            tags = {"rule": "dam_safety", "subject": f"dam-{area}", "area": area, "severity": severity}
            fields = {"alarm_id": f"a{i}", "state": "open", "transition": "created", "active": rng.random() < 0.5}
            out.append(line("alarm", tags, fields, ts))
    return out
