"""Importing feed files into a real InfluxDB: every format, the derived figures, the mapping, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.feeds.formats import read_file
from hub.feeds.pipeline import run_import
from hub.store.influx_query import query
from testkit.localsvc import InfluxDB
from tests.hub.feeds.helpers import DB, context, indicator, service, write_csv, write_xlsx

EXAMPLES = Path(__file__).parents[3] / "docs" / "examples" / "feeds"
MEASUREMENT = {"indicators": "admin_indicator", "public_service": "public_service", "feedback": "citizen_feedback"}


@pytest.mark.services
@pytest.mark.parametrize("fmt", ["csv", "json", "xlsx"])
@pytest.mark.parametrize("kind", ["indicators", "public_service", "feedback"])
def test_each_example_file_imports_and_is_queryable(influx: InfluxDB, tmp_path: Path, kind: str, fmt: str) -> None:
    ctx = context(influx.url, tmp_path)
    report = run_import(read_file(EXAMPLES / f"{kind}.{fmt}"), ctx)
    assert report.ok and report.committed and report.accepted == report.rows > 0, report
    rows = query(influx.url, DB, f'SELECT * FROM "{MEASUREMENT[kind]}"')
    assert len(rows) == report.points > 0
    assert all(len(r["admin_code"]) in (2, 5) and r["province_code"] for r in rows)


@pytest.mark.services
def test_public_service_rates_match_qd766_by_hand(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    # 200 received + 40 carried over = 240 to process; late = 12 resolved late + 6 in progress late = 18:
    # late rate 7.5 %, on time 92.5 %; 150 of 200 online = 75 %.
    row = service(
        "42",
        "2025-08",
        received=200,
        carried_over=40,
        resolved_early=50,
        resolved_on_time=140,
        resolved_late=12,
        in_progress_on_time=32,
        in_progress_late=6,
    )
    row["received_online"] = 150
    report = run_import(read_file(write_xlsx(tmp_path / "dvc.xlsx", "public_service", [row])), ctx)
    assert report.ok, report
    [point] = query(influx.url, DB, 'SELECT * FROM "public_service"')
    assert point["to_process"] == 240
    assert point["late_rate_pct"] == pytest.approx(7.5)
    assert point["on_time_rate_pct"] == pytest.approx(92.5)
    assert point["online_rate_pct"] == pytest.approx(75.0)
    assert point["resolved_on_time"] == 190  # early + on time
    assert (point["admin_code"], point["level"], point["period_type"]) == ("42", "province", "M")


@pytest.mark.services
def test_old_codes_are_stored_under_the_new_unit(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        indicator("population", "10", "2024", 800_000, "Y"),  # Lào Cai before 2025 -> 15
        indicator("population", "15", "2024", 850_000, "Y"),  # Yên Bái before 2025 -> 15 (hosts the committee)
        indicator("population", "00013", "2024", 9_000, "Y"),  # Quán Thánh ward -> 00004 Ba Đình
    ]
    report = run_import(read_file(write_csv(tmp_path / "pop.csv", "indicators", rows)), ctx)
    assert report.ok, report
    got = {r["admin_code"]: r["value"] for r in query(influx.url, DB, 'SELECT * FROM "admin_indicator"')}
    assert got == {"15": 1_650_000, "00004": 9_000}  # population is additive: the merged province's is the sum


@pytest.mark.services
def test_a_repeated_old_code_is_a_duplicate_not_added_twice(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        indicator("population", "10", "2024", 800_000, "Y"),
        indicator("population", "15", "2024", 850_000, "Y"),
        indicator("population", "15", "2024", 850_000, "Y"),  # the same row again, after another part of 15
    ]
    report = run_import(read_file(write_csv(tmp_path / "pop.csv", "indicators", rows)), ctx, partial=True)
    assert [(r.row, r.reason) for r in report.rejections] == [
        (5, "duplicate of row 4 (same unit, indicator and period)")
    ]
    [point] = query(influx.url, DB, 'SELECT * FROM "admin_indicator"')
    assert point["value"] == 1_650_000  # 800,000 + 850,000 once


@pytest.mark.services
def test_merged_units_with_a_non_additive_indicator_are_rejected(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [indicator("grdp_growth", "35", "2024", 7.1, "Y"), indicator("grdp_growth", "36", "2024", 6.2, "Y")]
    rows.append(indicator("population", "46", "2024", 1_100_000, "Y"))
    report = run_import(read_file(write_csv(tmp_path / "g.csv", "indicators", rows)), ctx, partial=True)
    # Every part is refused, not all but the first: the file's order must not pick Ninh Bình's growth rate.
    assert [r.row for r in report.rejections] == [3, 4]
    for r in report.rejections:
        assert "35 (row 3), 36 (row 4) all map to 37" in r.reason and "not additive" in r.reason, r.reason
    assert [p["admin_code"] for p in query(influx.url, DB, 'SELECT * FROM "admin_indicator"')] == ["46"]
    assert not report.summed and not report.remapped


@pytest.mark.services
def test_old_codes_of_a_merged_unit_before_2025_are_summed_and_reported(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        indicator("population", "02", "2024", 900_000, "Y"),  # Hà Giang -> 08
        indicator("population", "08", "2024", 800_000, "Y"),  # Tuyên Quang before 2025: part of today's 08
        indicator("households", "02", "2024", 200_000, "Y"),
        indicator("households", "08", "2024", 210_000, "Y"),
        indicator("population", "10", "2024-H2", 810_000, "H"),  # Lào Cai -> 15, alone
        indicator("population", "00013", "2024", 9_000, "Y"),  # Quán Thánh ward -> 00004
    ]
    report = run_import(read_file(write_csv(tmp_path / "old.csv", "indicators", rows)), ctx)
    assert report.ok and report.points == 4, report.summary()
    assert report.remapped == {("02", "08"): 2, ("10", "15"): 1, ("00013", "00004"): 1}
    assert report.summed == {(("02", "08"), "08"): 2}
    assert report.summary().endswith(
        "; remapped 00013->00004 (1 row), 02->08 (2 rows), 10->15 (1 row); summed 02+08->08 (2 values)"
    )
    got = {
        (r["admin_code"], r["indicator"]): r["value"] for r in query(influx.url, DB, 'SELECT * FROM "admin_indicator"')
    }
    assert got == {
        ("08", "population"): 1_700_000,
        ("08", "households"): 410_000,
        ("15", "population"): 810_000,
        ("00004", "population"): 9_000,
    }


@pytest.mark.services
def test_a_retired_code_after_the_reorganisation_is_refused_not_mapped(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    first = [indicator("population", "08", "2025-Q3", 1_865_000, "Q")]
    assert run_import(read_file(write_csv(tmp_path / "tq.csv", "indicators", first)), ctx).ok
    # Hà Giang's old code for a period after 2025-07-01: it used to overwrite Tuyên Quang's figure.
    later = write_csv(tmp_path / "hg.csv", "indicators", [indicator("population", "02", "2025-Q3", 900_000, "Q")])
    report = run_import(read_file(later), ctx)
    assert not report.committed and report.points == 0
    [r] = report.rejections
    assert r.row == 3 and r.reason.startswith("admin_code: province code 02 (Tỉnh Hà Giang) was retired on 2025-07-01")
    assert "under 08" in r.reason
    [dead] = ctx.state.dead_letters(str(later))
    assert (dead.row, dead.reason) == (3, r.reason)
    # ... and both codes in one file used to be summed into 08.
    both = [indicator("population", "08", "2025-Q3", 1_865_000, "Q"), indicator("population", "02", "2025-Q3", 1, "Q")]
    again = run_import(read_file(write_csv(tmp_path / "both.csv", "indicators", both)), ctx, partial=True)
    assert [r.row for r in again.rejections] == [4] and not again.summed and not again.remapped
    [point] = query(influx.url, DB, 'SELECT * FROM "admin_indicator"')
    assert (point["admin_code"], point["value"]) == ("08", 1_865_000)
    # The year 2025 starts before the reorganisation: it is still mapped (and said so).
    year = run_import(
        read_file(write_csv(tmp_path / "y.csv", "indicators", [indicator("cpi", "02", "2025", 3.1, "Y")])), ctx
    )
    assert year.ok and year.remapped == {("02", "08"): 1}


@pytest.mark.services
def test_public_service_refuses_a_retired_code_after_2025_and_reports_sums_before(
    influx: InfluxDB, tmp_path: Path
) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        service("35", "2025-07", received=5, resolved_on_time=5),  # Hà Nam, after the reorganisation
        service("35", "2025-06", received=5, resolved_on_time=5),  # before it: part of today's 37
        service("37", "2025-06", received=10, resolved_on_time=8, resolved_late=2),
    ]
    report = run_import(read_file(write_csv(tmp_path / "dvc.csv", "public_service", rows)), ctx, partial=True)
    [r] = report.rejections
    assert (
        r.row == 3 and "province code 35 (Tỉnh Hà Nam) was retired on 2025-07-01" in r.reason and "under 37" in r.reason
    )
    assert report.remapped == {("35", "37"): 1} and report.summed == {(("35", "37"), "37"): 1}
    [point] = query(influx.url, DB, 'SELECT * FROM "public_service"')
    assert (point["admin_code"], point["received"], point["late_rate_pct"]) == ("37", 15, pytest.approx(2 / 15 * 100))


@pytest.mark.services
def test_a_value_in_another_unit_is_refused_and_dead_lettered(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [
        {**indicator("population", "46", "2024", 1_160_000, "Y"), "unit": "người"},
        {**indicator("population", "42", "2024", 1_300, "Y"), "unit": "nghìn người"},  # thousands: not người
        {**indicator("budget_revenue", "46", "2025-07", 610.5), "unit": "kg"},
        {**indicator("budget_revenue", "42", "2025-07", 400.0), "unit": "Tỷ  đồng"},  # case and spacing
        {**indicator("households", "42", "2024", 300_000, "Y"), "unit": ""},  # the catalogue's
    ]
    path = write_csv(tmp_path / "units.csv", "indicators", rows)
    report = run_import(read_file(path), ctx)
    assert not report.committed and report.points == 0 and report.rejected == 2
    assert [(r.row, r.reason) for r in report.rejections] == [
        (
            4,
            "unit: 'nghìn người' is not the unit of population: expected 'người' (hub/feeds/data/indicators.csv); "
            "give the value in 'người', or leave unit empty",
        ),
        (
            5,
            "unit: 'kg' is not the unit of budget_revenue: expected 'tỷ đồng' (hub/feeds/data/indicators.csv); "
            "give the value in 'tỷ đồng', or leave unit empty",
        ),
    ]
    assert query(influx.url, DB, 'SELECT * FROM "admin_indicator"') == []
    assert [(d.row, d.raw["unit"]) for d in ctx.state.dead_letters(str(path))] == [(4, "nghìn người"), (5, "kg")]
    partial = run_import(read_file(path), ctx, partial=True)
    assert partial.committed and partial.accepted == 3 and partial.rejected == 2
    units = {
        r["admin_code"] + " " + r["indicator"]: r["unit"]
        for r in query(influx.url, DB, 'SELECT * FROM "admin_indicator"')
    }
    assert units == {"46 population": "người", "42 budget_revenue": "tỷ đồng", "42 households": "hộ"}


@pytest.mark.services
def test_one_bad_row_leaves_nothing_behind_and_is_dead_lettered(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    rows = [indicator("population", "46", f"{2015 + i}", 1_000_000 + i, "Y") for i in range(10)]
    rows[6]["admin_code"] = "03"
    path = write_csv(tmp_path / "bad.csv", "indicators", rows)
    report = run_import(read_file(path), ctx)
    assert not report.committed and report.accepted == 0 and report.points == 0
    assert [(r.row, r.reason) for r in report.rejections] == [
        (9, "admin_code: unknown province code 03 (sequential 01-34 province numbering is not GSO coding)")
    ]
    assert query(influx.url, DB, 'SELECT * FROM "admin_indicator"') == []
    [dead] = ctx.state.dead_letters()
    assert (dead.source, dead.row, dead.raw["admin_code"]) == (str(path), 9, "03")
    assert ctx.state.dead_letter_count() == 1

    partial = run_import(read_file(path), ctx, partial=True)
    assert partial.committed and partial.accepted == 9 and partial.rejected == 1
    assert len(query(influx.url, DB, 'SELECT * FROM "admin_indicator"')) == 9
    assert ctx.state.dead_letter_count() == 2


@pytest.mark.services
def test_influx_down_means_nothing_written_and_feedback_rolled_back(tmp_path: Path) -> None:
    from testkit.localsvc import free_port

    ctx = context(f"http://127.0.0.1:{free_port()}", tmp_path, budget=0.2)
    rows = [
        {
            "record_id": "A1",
            "received_at": "2025-08-01T08:00:00+07:00",
            "admin_code": "46",
            "category": "road_damage",
            "status": "received",
        }
    ]
    report = run_import(read_file(write_csv(tmp_path / "fb.csv", "feedback", rows)), ctx)
    assert report.error and "nothing imported" in report.error and not report.committed
    assert ctx.state.conn.execute("SELECT count(*) FROM feedback_records").fetchone()[0] == 0
    assert ctx.state.imports()[-1]["committed"] == 0


@pytest.mark.services
def test_change_and_anomaly_use_the_stored_history(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    months = [100, 102, 98, 101, 99, 100, 103, 97, 100, 101, 99, 100]
    first = [indicator("budget_revenue", "46", f"2024-{m:02d}", v) for m, v in enumerate(months, start=1)]
    assert run_import(read_file(write_csv(tmp_path / "y2024.csv", "indicators", first)), ctx).ok
    # January 2025 in a later file: 130 against December's 100 (+30 %), a jump, and 13 % below its plan of 150.
    later = [indicator("budget_revenue", "46", "2025-01", 130, plan=150)]
    assert run_import(read_file(write_csv(tmp_path / "jan.csv", "indicators", later)), ctx).ok
    rows = query(influx.url, DB, 'SELECT * FROM "admin_indicator" ORDER BY time')
    assert len(rows) == 13
    jan = rows[-1]
    assert jan["change_pct"] == pytest.approx(30.0)
    assert jan["anomaly"] == 1
    assert "below plan 150" in jan["anomaly_reason"] and "scaled MADs" in jan["anomaly_reason"]
    assert rows[1]["change_pct"] == pytest.approx(2.0) and rows[1]["anomaly"] == 0
    assert jan["unit"] == "tỷ đồng"  # from the indicator catalogue when the row has none


@pytest.mark.services
def test_feedback_status_update_moves_the_count(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    base = {"received_at": "2025-08-01T08:00:00+07:00", "admin_code": "46", "category": "road_damage"}
    first = [{"record_id": "A1", **base, "status": "received", "resolved_at": ""}]
    first.append({"record_id": "A2", **base, "status": "received", "resolved_at": ""})
    assert run_import(read_file(write_csv(tmp_path / "d1.csv", "feedback", first)), ctx).ok
    update = [{"record_id": "A1", **base, "status": "resolved", "resolved_at": "2025-08-01T14:00:00+07:00"}]
    assert run_import(read_file(write_csv(tmp_path / "d2.csv", "feedback", update)), ctx).ok
    rows = query(influx.url, DB, 'SELECT "count", "median_resolve_h" FROM "citizen_feedback" GROUP BY "status"')
    counts = {r["status"]: r["count"] for r in rows}
    assert counts == {"received": 1, "resolved": 1, "processing": 0, "rejected": 0}
    assert next(r for r in rows if r["status"] == "resolved")["median_resolve_h"] == pytest.approx(6.0)


@pytest.mark.services
def test_feedback_moved_to_another_category_leaves_no_stale_count(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    base = {"record_id": "B1", "received_at": "2025-08-02T08:00:00+07:00", "admin_code": "00013", "status": "received"}
    assert run_import(
        read_file(write_csv(tmp_path / "a.csv", "feedback", [{**base, "category": "environment"}])), ctx
    ).ok
    assert run_import(
        read_file(write_csv(tmp_path / "b.csv", "feedback", [{**base, "category": "encroachment"}])), ctx
    ).ok
    rows = query(influx.url, DB, 'SELECT "count" FROM "citizen_feedback" WHERE "status" = \'received\' GROUP BY *')
    assert {(r["admin_code"], r["province_code"], r["category"]): r["count"] for r in rows} == {
        ("00004", "01", "environment"): 0,
        ("00004", "01", "encroachment"): 1,
    }
