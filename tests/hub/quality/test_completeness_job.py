"""The completeness job against a real InfluxDB 1.x: readings with gaps in, received / expected per sensor and local
day (UTC+7) out, stored as one ``completeness`` point per sensor and day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.config import HubInflux
from hub.quality.completeness_job import CompletenessJob, completeness_pass, count_query
from hub.store.influx import InfluxWriter, Outcome
from hub.store.influx_query import InfluxReader
from hub.store.line_protocol import line
from hub.store.state import NodeInfo
from testkit.localsvc import InfluxDB

DB = "iocgw"
LOCAL = timedelta(hours=7)
# 12:00 local on 5 October 2026: today is half over, yesterday (4 October) is whole.
NOW = datetime(2026, 10, 5, 5, 0, tzinfo=UTC)
TODAY_START = datetime(2026, 10, 4, 17, 0, tzinfo=UTC)  # 00:00 local
YESTERDAY_START = TODAY_START - timedelta(days=1)

NODES = [
    NodeInfo("river-a", admin_code="01", sensors=(("stage", "water_level", 900.0), ("rain", "rainfall", 300.0))),
    NodeInfo("river-b", admin_code="42", sensors=(("stage", "water_level", 900.0),)),
    # Nothing stored for it at all: received 0, not a missing row.
    NodeInfo("river-c", admin_code="42", sensors=(("stage", "water_level", 900.0),)),
    # No interval known: nothing to expect of it, so not reported.
    NodeInfo("river-d", admin_code="42", sensors=(("stage", "water_level", 0.0),)),
]


def readings(
    node: str, sensor: str, quantity: str, start: datetime, end: datetime, every_s: float, admin: str
) -> list[str]:
    out = []
    t = start
    while t < end:
        tags = {"admin_code": admin, "node_id": node, "sensor_id": sensor}
        out.append(line(quantity, tags, {"value": 1.0, "quality": "good"}, int(t.timestamp() * 1000)))
        t += timedelta(seconds=every_s)
    return out


def write(url: str, lines: list[str]) -> None:
    writer = InfluxWriter(HubInflux(url=url, database=DB, gzip=False))
    try:
        writer.ensure_database()
        assert writer.write("\n".join(lines).encode(), budget_s=5).outcome is Outcome.WRITTEN
    finally:
        writer.close()


def gappy_data() -> list[str]:
    """river-a stage: yesterday whole (96); today 00:00-04:00 and 08:00-12:00 (32 of 48), plus one reading the
    day before yesterday (outside both days). river-a rain: yesterday only its first 12 h (144 of 288), today
    whole so far (144 of 144), and a reading flagged bad (still received). river-b stage: today only, 12 readings."""
    lines = readings("river-a", "stage", "water_level", YESTERDAY_START, TODAY_START, 900, "01")
    lines += readings("river-a", "stage", "water_level", TODAY_START, TODAY_START + timedelta(hours=4), 900, "01")
    lines += readings(
        "river-a", "stage", "water_level", TODAY_START + timedelta(hours=8), NOW, 900, "01"
    )  # 08:00-12:00 local
    lines += readings(
        "river-a", "stage", "water_level", YESTERDAY_START - timedelta(hours=1), YESTERDAY_START, 3600, "01"
    )
    lines += readings("river-a", "rain", "rainfall", YESTERDAY_START, YESTERDAY_START + timedelta(hours=12), 300, "01")
    lines += readings("river-a", "rain", "rainfall", TODAY_START, NOW - timedelta(seconds=300), 300, "01")
    bad = {"admin_code": "01", "node_id": "river-a", "sensor_id": "rain"}
    lines.append(
        line("rainfall", bad, {"value": -5.0, "quality": "bad"}, int((NOW - timedelta(seconds=300)).timestamp() * 1000))
    )
    lines += readings("river-b", "stage", "water_level", TODAY_START, TODAY_START + timedelta(hours=3), 900, "42")
    return lines


@pytest.fixture
def filled(influx: InfluxDB) -> Iterator[InfluxReader]:
    write(influx.url, gappy_data())
    reader = InfluxReader(influx.url, DB)
    yield reader
    reader.close()


def by_key(result) -> dict[tuple[str, str, str], tuple[int, float, float]]:
    return {
        (node, sensor, day.day.isoformat()): (day.received, round(day.expected, 3), round(day.ratio, 4))
        for node, sensor, day in result.reports
    }


def test_counts_per_sensor_and_local_day_with_gaps(filled: InfluxReader) -> None:
    result = completeness_pass(filled, NODES, NOW)
    assert by_key(result) == {
        ("river-a", "stage", "2026-10-04"): (96, 96.0, 1.0),
        ("river-a", "stage", "2026-10-05"): (32, 48.0, 0.6667),
        ("river-a", "rain", "2026-10-04"): (144, 288.0, 0.5),
        ("river-a", "rain", "2026-10-05"): (144, 144.0, 1.0),
        ("river-b", "stage", "2026-10-04"): (0, 96.0, 0.0),
        ("river-b", "stage", "2026-10-05"): (12, 48.0, 0.25),
        ("river-c", "stage", "2026-10-04"): (0, 96.0, 0.0),
        ("river-c", "stage", "2026-10-05"): (0, 48.0, 0.0),
    }


def test_points_are_stored_one_per_sensor_and_day_at_local_midnight(influx: InfluxDB, filled: InfluxReader) -> None:
    job = CompletenessJob(filled)
    write(influx.url, job.run(NODES, NOW - timedelta(hours=2)).lines)
    # A later pass rewrites the same points (same series, same timestamp) rather than adding rows.
    write(influx.url, job.run(NODES, NOW).lines)
    rows = filled.query(
        'SELECT "received", "expected", "ratio" FROM "completeness" GROUP BY "node_id", "sensor_id", "quantity", '
        '"admin_code"'
    )
    assert len(rows) == 8
    stored = {(r["node_id"], r["sensor_id"], r["time"]): (r["received"], r["expected"], r["ratio"]) for r in rows}
    today_ms, yesterday_ms = int(TODAY_START.timestamp() * 1000), int(YESTERDAY_START.timestamp() * 1000)
    assert stored[("river-a", "stage", today_ms)] == (32, 48.0, 0.6667)
    assert stored[("river-a", "stage", yesterday_ms)] == (96, 96.0, 1.0)
    assert stored[("river-b", "stage", today_ms)] == (12, 48.0, 0.25)
    tags = {(r["node_id"], r["sensor_id"]): (r["quantity"], r["admin_code"]) for r in rows}
    assert tags[("river-a", "rain")] == ("rainfall", "01") and tags[("river-b", "stage")] == ("water_level", "42")


def test_just_after_midnight_today_owes_little_and_yesterday_is_whole(filled: InfluxReader) -> None:
    # 00:10 local on 6 October: "today" has 0 readings of 0.67 expected, "yesterday" (5 October) is the day above.
    result = completeness_pass(filled, NODES, TODAY_START + timedelta(days=1, minutes=10))
    got = by_key(result)
    assert got[("river-a", "stage", "2026-10-05")] == (32, 96.0, 0.3333)
    assert got[("river-a", "stage", "2026-10-06")] == (0, 0.667, 0.0)


def test_one_query_for_all_quantities_buckets_local_days() -> None:
    q = count_query(["water_level", "rainfall", "water_level"], YESTERDAY_START, TODAY_START, retention_policy="raw")
    assert q == (
        'SELECT count("value") FROM "raw"."rainfall", "raw"."water_level" '
        f"WHERE time >= {int(YESTERDAY_START.timestamp() * 1000)}ms AND time < {int(TODAY_START.timestamp() * 1000)}ms "
        'GROUP BY time(1d, 17h), "node_id", "sensor_id" fill(none)'
    )


def test_an_empty_database_gives_zero_received(influx: InfluxDB) -> None:
    reader = InfluxReader(influx.url, DB)  # no database at all yet: InfluxReader answers []
    try:
        result = completeness_pass(reader, NODES[:1], NOW)
    finally:
        reader.close()
    assert {d.received for _, _, d in result.reports} == {0}
    assert len(result.lines) == 4
