"""Real hydrographs for the forecast benchmark: French Hub'Eau stage series, extracted once from a git mirror of
kalisio/water-level-forecasting into bench/data/hydro/ (bench/data/hydro/SOURCES.md), and read back from there.

    python -m bench._forecast_hubeau --mirror /work/.mirror/kalisio+water-level-forecasting/repo

rewrites the CSVs (hourly means of the 10-minute series, metres, blank for an hour without a reading).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import subprocess
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data" / "hydro"


@dataclass(frozen=True)
class Pair:
    """An upstream and a downstream gauge on one river over one month."""

    name: str
    river: str
    upstream: tuple[str, str]  # (Hub'Eau site code, name)
    downstream: tuple[str, str]
    period: str  # the archive's folder: train_data, validation_data or test_data


PAIRS = (
    Pair("aude-2020-01", "Aude", ("Y1232010", "Carcassonne"), ("Y1422010", "Puichéric"), "train_data"),
    Pair("aude-2020-04", "Aude", ("Y1232010", "Carcassonne"), ("Y1422010", "Puichéric"), "validation_data"),
    Pair("gard-2020-09", "Gardon", ("V7144010", "Anduze"), ("V7164015", "Ners"), "test_data"),
    Pair("herault-2020-09", "Hérault", ("Y2100020", "Laroque"), ("Y2140010", "Gignac"), "test_data"),
)


def csv_name(pair: Pair, site: str) -> str:
    return f"{pair.name}_{site}.csv"


def _hourly(rows: list[dict[str, str]]) -> list[tuple[datetime, float]]:
    sums: dict[datetime, list[float]] = defaultdict(list)
    for r in rows:
        t = datetime.strptime(r["date_obs"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        sums[t.replace(minute=0, second=0)].append(float(r["resultat_obs"]) / 1000.0)  # Hub'Eau H is in mm
    start, end = min(sums), max(sums)
    out = []
    t = start
    while t <= end:
        vals = sums.get(t)
        out.append((t, sum(vals) / len(vals) if vals else math.nan))
        t += timedelta(hours=1)
    return out


def extract(mirror: Path, out: Path = DATA_DIR) -> list[str]:
    """Write one CSV per gauge and period; returns the archive members read."""
    members = []
    archives: dict[str, zipfile.ZipFile] = {}
    for pair in PAIRS:
        if pair.period not in archives:
            blob = subprocess.run(
                ["git", f"--git-dir={mirror}", "show", f"HEAD:{pair.period.replace('_data', '')}_data.zip"],
                check=True,
                capture_output=True,
            ).stdout
            archives[pair.period] = zipfile.ZipFile(io.BytesIO(blob))
        zf = archives[pair.period]
        for site, _ in (pair.upstream, pair.downstream):
            name = next(n for n in zf.namelist() if f"hubeau_site_{site}_" in n and "_10m_" in n)
            members.append(f"{pair.period}.zip:{name.encode('cp437').decode('utf-8', 'replace')}")
            rows = list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8"), delimiter=";"))
            with (out / csv_name(pair, site)).open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["time_utc", "level_m"])
                for t, v in _hourly(rows):
                    w.writerow([t.strftime("%Y-%m-%dT%H:%MZ"), "" if math.isnan(v) else f"{v:.3f}"])
    return members


def load(pair: Pair, site: str, folder: Path = DATA_DIR) -> tuple[datetime, list[float]]:
    """(first hour, hourly levels with NaN for missing) of one extracted series."""
    with (folder / csv_name(pair, site)).open(newline="") as f:
        rows = list(csv.DictReader(f))
    start = datetime.strptime(rows[0]["time_utc"], "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    return start, [float(r["level_m"]) if r["level_m"] else math.nan for r in rows]


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--mirror", type=Path, required=True, help="bare git directory of the mirror")
    args = p.parse_args()
    for m in extract(args.mirror):
        print(m)
