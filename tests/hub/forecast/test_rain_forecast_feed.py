"""Rain forecasts as a feed kind (``rain_forecast``): an imported issue reads back as it was issued, re-importing
rewrites the same points, and bad rows are refused with a reason naming the row, dead-lettered, nothing written."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.feeds.formats import read_file
from hub.feeds.pipeline import run_import
from hub.forecast.base import HOUR
from hub.forecast.rain_store import load_rain_forecasts
from hub.store.influx_query import query
from testkit.localsvc import InfluxDB
from tests.hub.feeds.helpers import DB, context, write_csv

pytestmark = pytest.mark.services

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples" / "feeds"
ISSUED = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - 6 * HOUR


def row(valid_h: int, mm: float | str, issued: datetime = ISSUED, **kw: Any) -> dict[str, Any]:
    return {
        "area": kw.pop("area", "huong"),
        "issued": issued.isoformat(),
        "valid": (issued + valid_h * HOUR).isoformat(),
        "mm": mm,
        "agency": kw.pop("agency", "NCHMF"),
        **kw,
    }


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_example_files_import(influx: InfluxDB, tmp_path: Path, fmt: str) -> None:
    report = run_import(read_file(EXAMPLES / f"rain_forecast.{fmt}"), context(influx.url, tmp_path))
    assert report.ok and report.committed and report.points > 0, report.summary()
    rows = query(influx.url, DB, 'SELECT * FROM "rain_forecast"')
    assert len(rows) == report.points and {r["area"] for r in rows} == {"huong"}


def test_an_issue_reads_back_as_issued_and_a_later_one_does_not_replace_it(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    first = [row(h, float(h)) for h in range(1, 13) if h != 5]  # hour 5 left out
    later = [row(h, 50.0, issued=ISSUED + 3 * HOUR) for h in range(1, 13)]
    for name, rows in (("a.csv", first), ("b.csv", later), ("a2.csv", first)):  # a re-import rewrites, adds nothing
        assert run_import(read_file(write_csv(tmp_path / name, "rain_forecast", rows)), ctx).ok
    assert len(query(influx.url, DB, 'SELECT * FROM "rain_forecast"')) == 11 + 12

    fc = load_rain_forecasts(ctx.sink, "huong", ISSUED, ISSUED + 4 * HOUR)  # type: ignore[arg-type]
    assert len(fc) == 2
    early = fc.newest(ISSUED + 2 * HOUR)
    assert early is not None and early.issued == ISSUED and early.first == ISSUED + HOUR
    assert early.mm[:4] == (1.0, 2.0, 3.0, 4.0) and math.isnan(early.mm[4])
    assert fc.ahead(ISSUED, 4) == 10.0 and math.isnan(fc.ahead(ISSUED, 5))  # the hour left out is not dry
    assert fc.ahead(ISSUED + 3 * HOUR, 2) == 100.0  # from the later issue once it is out
    assert len(load_rain_forecasts(ctx.sink, "elsewhere", ISSUED, ISSUED)) == 0  # type: ignore[arg-type]


def test_bad_rows_are_refused_with_reasons_and_nothing_is_written(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        row(1, 2.0),  # line 3: good
        row(2, -1.0),  # 4: negative
        row(3, "nan"),  # 5: not finite
        row(4, 900.0),  # 6: more than any hour's rain
        row(5, 1.0, valid=(ISSUED + timedelta(minutes=330)).isoformat()),  # 7: not a whole hour
        row(6, 1.0, valid=ISSUED.isoformat()),  # 8: not after issued
        row(1, 2.0),  # 9: duplicate of line 3
        row(7, 1.0, issued=ISSUED + 12 * HOUR),  # 10: issued in the future
        row(200, 1.0),  # 11: lead beyond any forecast
        row(8, 1.0, agency="someone else"),  # 12: another agency in the same issue
        row(9, 1.0, area="Hương basin"),  # 13: not an identifier
    ]
    path = write_csv(tmp_path / "bad.csv", "rain_forecast", rows)
    report = run_import(read_file(path), ctx)
    assert not report.committed and report.points == 0
    reasons = {r.row: r.reason for r in report.rejections}
    assert sorted(reasons) == list(range(4, 14))
    assert "between 0 and 350" in reasons[4] and "finite" in reasons[5] and "between 0 and 350" in reasons[6]
    assert "whole hour" in reasons[7] and "must be after issued" in reasons[8]
    assert reasons[9] == "duplicate of row 3 (same area, issued and valid)"
    assert "in the future" in reasons[10] and "more than 120 h" in reasons[11]
    assert "differs from row 3" in reasons[12] and reasons[13].startswith("area:")
    assert query(influx.url, DB, 'SELECT * FROM "rain_forecast"') == []
    assert [d.row for d in ctx.state.dead_letters(str(path))] == list(range(4, 14))  # type: ignore[union-attr]

    partial = run_import(read_file(path), ctx, partial=True)
    assert partial.committed and partial.accepted == 1 and partial.points == 1
