"""The merged view: the real alert engine's measurements in InfluxDB, next to the imported unit profiles."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.alerts.config import AlertsConfig, RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.evaluate.base import Observation
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.store import AlertStore
from hub.feeds.formats import read_file
from hub.feeds.merge import HazardSettings, refresh
from hub.feeds.pipeline import run_import
from hub.store.influx_query import query
from testkit.localsvc import InfluxDB
from tests.hub.feeds.helpers import DB, context, indicator, write_csv

STATION = FloodStation(
    station_id="to-lich-ba-dinh",
    node_id="river-bd-01",
    sensor_id="stage",
    river="Tô Lịch",
    name="Ba Đình",
    province="Hà Nội",
    bd1_m=5.0,
    bd2_m=6.0,
    bd3_m=7.0,
    source="test table",
)

DOCS = Path(__file__).parents[3] / "docs" / "feeds.md"

# The query docs/feeds.md shows: communes at flood level with their population and schools.
FLOODED_COMMUNES = (
    'SELECT last("hazard_level") AS hazard_level, last("name") AS "name", last("population") AS population, '
    'last("schools") AS schools FROM "unit_hazard" WHERE "level" = \'commune\' AND "hazard" = \'flood\' '
    'AND time > now() - 1h GROUP BY "admin_code"'
)


@pytest.mark.services
def test_communes_at_flood_level_with_population_and_schools(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    profiles = [
        indicator("population", "00004", "2025", 65_800, "Y"),
        indicator("schools", "00004", "2025", 21, "Y"),
        indicator("population", "00008", "2025", 54_000, "Y"),
        indicator("schools", "00008", "2025", 17, "Y"),
    ]
    assert run_import(read_file(write_csv(tmp_path / "p.csv", "indicators", profiles)), ctx).ok

    # The real engine, with the station in ward 00013 (retired in 2025, now part of 00004): a rise to BĐ2.
    engine = AlertEngine(
        AlertsConfig(),
        RuleTables(flood=FloodStationTable(stations=[STATION])),
        AlertStore(tmp_path / "alerts.db"),
        areas={"river-bd-01": "00013"},
        intervals={},
    )
    now = datetime.now(UTC)
    lines: list[str] = []
    for i, stage in enumerate([4.0, 5.4, 6.3]):
        t = now - timedelta(minutes=30 - 10 * i)
        lines += engine.process([Observation("river-bd-01", "stage", "water_level", t, stage)], now=t)
    ctx.sink.write(lines)

    written = refresh(ctx.sink, ctx.units, HazardSettings())
    assert written == len(ctx.units.current)
    rows = query(influx.url, DB, FLOODED_COMMUNES)
    assert [(r["admin_code"], r["name"], r["population"], r["schools"]) for r in rows] == [
        ("00004", "Phường Ba Đình", 65_800, 21)
    ]
    assert rows[0]["hazard_level"] >= 1
    by_code = {r["admin_code"]: r for r in query(influx.url, DB, 'SELECT * FROM "unit_hazard"')}
    assert by_code["00008"]["hazard"] == "none" and by_code["00008"]["population"] == 54_000
    assert by_code["00004"]["flood_alarm"] == 2  # BĐ2
    assert by_code["01"]["hazard"] == "flood"  # the province of a flooded commune is at flood too
    assert by_code["46"]["hazard_level"] == 0 and by_code["46"]["lat"] == pytest.approx(16.4637)
    assert set(by_code) == set(ctx.units.current)


@pytest.mark.services
def test_a_province_area_with_heavy_rain_and_fire_danger(influx: InfluxDB, tmp_path: Path) -> None:
    """Points shaped as docs/alerts.md lists them (rain_accumulation, fire_danger, alarm for dams)."""
    ctx = context(influx.url, tmp_path)
    ms = int(datetime.now(UTC).timestamp() * 1000)
    ctx.sink.write(
        [
            f'risk_level,area=42 level=2i,colour="#ffff99",hazards=1i {ms}',
            f"rain_accumulation,area=42,gauge_id=g1 acc_12h_mm=80.0,acc_24h_mm=150.0,level=2i {ms}",
            f"fire_danger,area=40,area_id=a1 p=6000.0,level=4i {ms}",
            f"fire_danger,area=38,area_id=a2 p=500.0,level=1i {ms}",
            f'alarm,area=44,rule=dam_safety,severity=major,subject=ke-go active=true,state="ACTIVE_UNACK" {ms}',
        ]
    )
    refresh(ctx.sink, ctx.units, HazardSettings())
    got = {
        r["admin_code"]: (r["hazard"], r["hazard_level"])
        for r in query(influx.url, DB, 'SELECT "admin_code", "hazard", "hazard_level" FROM "unit_hazard"')
    }
    assert got["42"] == ("rain", 2)
    assert got["40"] == ("fire", 4)
    assert got["38"] == ("none", 0)  # fire danger level I: fire unlikely
    assert got["44"] == ("dam", 3)


@pytest.mark.services
def test_every_sample_query_in_the_docs_runs(influx: InfluxDB, tmp_path: Path) -> None:
    ctx = context(influx.url, tmp_path)
    for name in ("indicators", "public_service", "feedback"):
        assert run_import(read_file(DOCS.parent / "examples" / "feeds" / f"{name}.csv"), ctx).ok
    refresh(ctx.sink, ctx.units, HazardSettings())
    text = DOCS.read_text(encoding="utf-8")
    queries = re.findall(r"```sql\n(.*?)\n```", text, flags=re.S)
    assert len(queries) >= 5
    for q in queries:
        query(influx.url, DB, q)  # raises on an InfluxQL error
    assert FLOODED_COMMUNES in queries
    every_unit = next(q for q in queries if q.endswith('GROUP BY "admin_code", "level"'))
    assert {r["admin_code"] for r in query(influx.url, DB, every_unit)} >= {"46", "00004"}
