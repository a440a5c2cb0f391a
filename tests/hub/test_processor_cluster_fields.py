"""Cluster mode's split of a reading's line (hub/ingest/processor.py ``ReadingFields``): the ingest hubs store the
value, the leader the flag; written to a real InfluxDB in either order, the points equal one hub's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hub.config import HubInflux
from hub.ingest.processor import Batch, Processor, ReadingFields
from hub.quality.checker import QualityChecker
from hub.store.influx import InfluxWriter, Outcome
from hub.store.state import NodeInfo
from testkit.localsvc import InfluxDB
from tests.support.influx import query
from wire import Topics

T0 = datetime(2026, 11, 22, tzinfo=UTC)
NODES = {"n1": NodeInfo("n1", admin_code="01", sensors=(("wl", "water_level", 900.0),))}
# Good, the node's own suspect, a rate-of-change jump, a hard-limit breach, a spike judged by its next reading.
SERIES = [
    (5.0, "good"),
    (5.01, "suspect"),
    (8.0, "good"),
    (5000.0, "good"),
    (5.0, "good"),
    (5.4, "good"),
    (5.0, "good"),
]


def lines(fields: ReadingFields) -> Batch:
    clock_now = [T0.timestamp()]
    checker = None if fields == "values" else QualityChecker(intervals={("n1", "wl"): 900.0})
    p = Processor(
        Topics("iocgw"),
        NODES,
        clock=lambda: clock_now[0],
        quality=checker,
        reading_fields=fields,
        max_age=timedelta(days=3650),
    )
    out = Batch()
    for seq, (value, flag) in enumerate(SERIES, 1):
        ts = T0 + timedelta(minutes=15 * seq)
        clock_now[0] = ts.timestamp()
        r = {"sensor_id": "wl", "quantity": "water_level", "value": value, "unit": "m", "quality": flag}
        body = {"v": 1, "node_id": "n1", "seq": seq, "ts": ts.isoformat(), "readings": [r]}
        p.handle("iocgw/v1/n1/telemetry", json.dumps(body).encode(), out)
    return out


def test_values_carry_no_flag_and_quality_lines_carry_nothing_else():
    values, flags = lines("values"), lines("quality")
    assert len(values.lines) == len(SERIES) and not values.qc_lines
    assert all("quality=" not in x and "qc=" not in x and "value=" in x for x in values.lines)
    assert flags.qc_lines and all("value=" not in x and "quality=" in x for x in flags.qc_lines)
    assert not any(x.startswith("water_level") for x in flags.lines), "the leader stores no reading values"
    assert any('qc="hard_limit"' in x for x in flags.qc_lines)
    assert any('qc="spike"' in x for x in flags.qc_lines), "revisions go with the flags"


def write(influx: InfluxDB, db: str, body: list[str]) -> Outcome:
    writer = InfluxWriter(HubInflux(url=influx.url, database=db))
    try:
        return writer.write(("\n".join(body) + "\n").encode(), 10.0).outcome
    finally:
        writer.close()


@pytest.mark.parametrize("flags_first", [True, False])
def test_the_two_writes_merge_into_one_hubs_points_in_either_order(influx: InfluxDB, flags_first: bool):
    values, flags = lines("values").lines, lines("quality").qc_lines
    cluster_db, one_hub_db = f"cluster_{int(flags_first)}", f"one_hub_{int(flags_first)}"
    assert write(influx, one_hub_db, lines("all").lines) is Outcome.WRITTEN
    for body in [flags, values] if flags_first else [values, flags]:
        assert write(influx, cluster_db, body) is Outcome.WRITTEN
    want = query(influx.url, one_hub_db, "SELECT value, quality, qc, seq FROM water_level")
    got = query(influx.url, cluster_db, "SELECT value, quality, qc, seq FROM water_level")
    assert len(want) == len(SERIES) and got == want
    assert {r["quality"] for r in got} == {"good", "suspect", "bad"}
