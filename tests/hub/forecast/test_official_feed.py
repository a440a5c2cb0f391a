"""Official forecasts as a feed kind (``forecast``): the example files import, the forecast reads back as the
station's official one, an older bulletin never replaces a newer one, and bad rows are refused with a reason that
names the row, dead-lettered, and nothing of the file is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.feeds.formats import read_file
from hub.feeds.pipeline import run_import
from hub.forecast.base import HOUR
from hub.forecast.store import latest_forecasts
from hub.store.influx_query import query
from testkit.localsvc import InfluxDB
from tests.hub.feeds.helpers import DB, context, write_csv

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples" / "feeds"
ISSUED = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 2 * HOUR
AGENCY = "Đài KTTV khu vực Trung Trung Bộ"


def row(valid_h: int, level: float | str, issued: datetime = ISSUED, **kw: Any) -> dict[str, Any]:
    return {
        "station_id": "huong-kim-long",
        "issued": issued.isoformat(),
        "valid": (issued + valid_h * HOUR).isoformat(),
        "level_m": level,
        "lower_m": kw.pop("lower_m", ""),
        "upper_m": kw.pop("upper_m", ""),
        "agency": kw.pop("agency", AGENCY),
        **kw,
    }


@pytest.mark.services
@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
def test_example_files_import_as_official_forecasts(influx: InfluxDB, tmp_path: Path, fmt: str) -> None:
    ctx = context(influx.url, tmp_path)
    report = run_import(read_file(EXAMPLES / f"forecast.{fmt}"), ctx)
    assert report.ok and report.committed and report.points > 0, report.summary()
    rows = query(influx.url, DB, 'SELECT * FROM "stage_forecast" WHERE "series" = \'latest\'')
    assert rows and {r["source"] for r in rows} == {"official"}
    assert report.points == 2 * len(rows)  # each value in the latest series and in its lead's history


@pytest.mark.services
def test_an_imported_forecast_reads_back_and_an_older_bulletin_never_replaces_it(
    influx: InfluxDB, tmp_path: Path
) -> None:
    ctx = context(influx.url, tmp_path)
    newer = [row(h, 1.0 + 0.2 * h, lower_m=0.9 + 0.2 * h, upper_m=1.2 + 0.2 * h) for h in (6, 12, 18, 24)]
    assert run_import(read_file(write_csv(tmp_path / "new.csv", "forecast", newer)), ctx).ok
    older = [row(h, 9.0, issued=ISSUED - 6 * HOUR, agency="old") for h in (12, 18, 24)]
    assert run_import(read_file(write_csv(tmp_path / "old.csv", "forecast", older)), ctx).ok

    got = latest_forecasts(ctx.sink, "official", ISSUED + HOUR, timedelta(hours=12))  # type: ignore[arg-type]
    f = got["huong-kim-long"]
    assert (f.source, f.method, f.issued) == ("official", AGENCY, ISSUED)
    assert [(p.horizon_h, p.level_m, p.lower_m, p.upper_m) for p in f.points] == [
        (h, pytest.approx(1.0 + 0.2 * h), pytest.approx(0.9 + 0.2 * h), pytest.approx(1.2 + 0.2 * h))
        for h in (6, 12, 18, 24)
    ]
    # The older bulletin is kept for skill all the same.
    history = query(influx.url, DB, 'SELECT "level_m" FROM "stage_forecast" WHERE "series" = \'history\'')
    assert sum(r["level_m"] == 9.0 for r in history) == 3


@pytest.mark.services
def test_bad_rows_are_refused_with_reasons_and_nothing_is_written(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        row(1, 1.1),  # line 3: good
        row(2, 1.2, valid=(ISSUED - HOUR).isoformat()),  # 4: before issued
        row(3, 1.3, valid=(ISSUED + timedelta(minutes=90)).isoformat()),  # 5: not a whole hour
        row(4, 1.4, lower_m=1.5),  # 6: lower above level
        row(1, 1.1),  # 7: duplicate of line 3
        row(5, 1.5, issued=ISSUED + 4 * HOUR),  # 8: issued in the future
        row(6, "high"),  # 9: not a number
        row(7, 1.7, station_id="Kim Long"),  # 10: not an identifier
        row(200, 1.7),  # 11: lead beyond any bulletin
        row(8, 1.8, agency="someone else"),  # 12: another agency in the same issue
    ]
    path = write_csv(tmp_path / "bad.csv", "forecast", rows)
    report = run_import(read_file(path), ctx)
    assert not report.committed and report.points == 0
    reasons = {r.row: r.reason for r in report.rejections}
    assert sorted(reasons) == list(range(4, 13))
    assert "must be after issued" in reasons[4]
    assert "whole hour" in reasons[5]
    assert "lower_m <= level_m <= upper_m" in reasons[6]
    assert reasons[7] == "duplicate of row 3 (same station_id, issued and valid)"
    assert "in the future" in reasons[8]
    assert reasons[9].startswith("level_m:")
    assert reasons[10].startswith("station_id:")
    assert "more than 120 h" in reasons[11]
    assert "differs from row 3" in reasons[12]
    assert query(influx.url, DB, 'SELECT * FROM "stage_forecast"') == []
    assert [d.row for d in ctx.state.dead_letters(str(path))] == list(range(4, 13))  # type: ignore[union-attr]

    partial = run_import(read_file(path), ctx, partial=True)
    assert partial.committed and partial.accepted == 1 and partial.points == 2
