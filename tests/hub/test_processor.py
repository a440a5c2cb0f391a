"""Every message ends in exactly one place: a point, a duplicate, or a dead letter with its reason."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.ingest.processor import Batch, Processor
from hub.store.state import NodeInfo
from wire import Topics

TOPICS = Topics("iocgw")
NODES = {"n1": NodeInfo("n1", admin_code="01001", sensors=(("wl", "water_level", 60.0), ("rain", "rainfall", 60.0)))}


def telemetry(seq: int = 1, **reading) -> bytes:
    r = {"sensor_id": "wl", "quantity": "water_level", "value": 9.5, "unit": "m", **reading}
    return json.dumps({"v": 1, "node_id": "n1", "seq": seq, "ts": "2026-11-22T00:00:00Z", "readings": [r]}).encode()


def handle(payload: bytes, topic: str = "iocgw/v1/n1/telemetry", processor: Processor | None = None) -> Batch:
    p = processor or Processor(TOPICS, NODES)
    batch = Batch()
    p.handle(topic, payload, batch)
    return batch


def test_valid_reading_becomes_one_line_with_registry_tags():
    batch = handle(telemetry())
    assert batch.lines == [
        'water_level,admin_code=01001,node_id=n1,sensor_id=wl value=9.5,quality="good",seq=1i 1795305600000'
    ]
    assert batch.node_seqs == {"n1": [1]}
    assert not batch.dead_letters


def test_duplicate_dropped_and_still_acknowledged():
    p = Processor(TOPICS, NODES)
    batch = Batch()
    p.handle("iocgw/v1/n1/telemetry", telemetry(7), batch)
    p.handle("iocgw/v1/n1/telemetry", telemetry(7), batch)
    assert len(batch.lines) == 1
    assert batch.duplicates == 1
    assert batch.node_seqs == {"n1": [7, 7]}


def test_reasons_name_what_is_wrong():
    cases = {
        b"{not json": "json",
        telemetry(value="NaN"): "readings.0.value",
        json.dumps({"v": 1}).encode(): "node_id",
        telemetry(sensor_id="ghost"): "unknown sensor 'ghost'",
        telemetry(quantity="rainfall", unit="mm"): "registered as water_level",
    }
    for payload, reason in cases.items():
        batch = handle(payload)
        assert not batch.lines, payload
        assert len(batch.dead_letters) == 1
        assert reason in batch.dead_letters[0].reason.lower() or reason in batch.dead_letters[0].reason


def test_unknown_node_spoofed_node_oversize_and_bad_topic():
    assert (
        "unknown node 'n2'"
        in handle(telemetry().replace(b'"n1"', b'"n2"'), "iocgw/v1/n2/telemetry").dead_letters[0].reason
    )
    assert "does not match topic" in handle(telemetry(), "iocgw/v1/n9/telemetry").dead_letters[0].reason
    big = Processor(TOPICS, NODES, max_payload_bytes=1024)
    assert "exceeds" in handle(b" " * 2000, processor=big).dead_letters[0].reason
    assert "unknown channel" in handle(telemetry(), "iocgw/v1/n1/weather").dead_letters[0].reason


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {"v": json_values, "node_id": json_values, "seq": json_values, "ts": json_values, "readings": json_values}
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_hostile_payloads_never_raise_and_never_vanish(payload):
    batch = handle(payload)
    accounted = len(batch.lines) + len(batch.dead_letters) + batch.duplicates
    assert batch.messages == 1
    assert accounted >= 1, "message neither stored nor dead-lettered"
    for dl in batch.dead_letters:
        assert dl.reason and dl.topic == "iocgw/v1/n1/telemetry"


def test_camera_event_carries_position_and_snapshot_link():
    nodes = {"cam-1": NodeInfo("cam-1", admin_code="42", lat=18.34, lon=105.9)}
    event = {
        "v": 1,
        "node_id": "cam-1",
        "seq": 3,
        "ts": "2026-11-22T00:00:00Z",
        "event_id": "e1",
        "phase": "new",
        "camera": "north",
        "label": "smoke",
        "score": 0.8,
        "top_score": 0.8,
        "box": [0.1, 0.1, 0.3, 0.3],
        "start": "2026-11-22T00:00:00Z",
        "snapshot": "iocgw/v1/cam-1/snapshot/north/smoke",
    }
    batch = handle(json.dumps(event).encode(), "iocgw/v1/cam-1/event", Processor(TOPICS, nodes))
    assert len(batch.lines) == 1, batch.dead_letters
    assert 'snapshot="/api/snapshots/cam-1/north/smoke"' in batch.lines[0]
    assert "lat=18.34" in batch.lines[0] and "lon=105.9" in batch.lines[0]
    assert "box_ymin=0.1,box_xmin=0.1,box_ymax=0.3,box_xmax=0.3" in batch.lines[0]


NOW = 1795305600.0  # 2026-11-22T00:00:00Z, the hub clock in these tests


def _msg(seq: int, ts: str = "2026-11-22T00:00:00Z", readings: list[dict] | None = None) -> bytes:
    base = {"sensor_id": "wl", "quantity": "water_level", "value": 9.5, "unit": "m"}
    rows = [{**base, **r} for r in (readings or [{}])]
    return json.dumps({"v": 1, "node_id": "n1", "seq": seq, "ts": ts, "readings": rows}).encode()


def test_a_reading_from_the_future_or_an_unset_clock_is_refused_and_its_neighbours_kept():
    p = Processor(TOPICS, NODES, clock=lambda: NOW)
    batch = Batch()
    readings = [
        {"value": 1.0, "ts": "2026-11-22T00:00:00Z"},
        {"value": 2.0, "ts": "2199-12-31T00:00:00Z"},  # would freeze the station's rules until 2199
        {"value": 3.0, "ts": "9999-12-31T23:59:59Z"},  # InfluxDB answers 400 for this one
        {"value": 4.0, "ts": "1970-01-01T00:00:00Z"},
        {"value": 5.0, "ts": "0001-01-01T00:00:00Z"},
        {"value": 6.0, "ts": "2026-11-22T00:04:59Z"},  # within the 5 minutes a clock may run ahead
        {"value": 7.0, "ts": "2025-10-19T00:00:00Z"},  # 399 days old: a long outage's backlog
    ]
    p.handle("iocgw/v1/n1/telemetry", _msg(1, readings=readings), batch)
    assert [ln.split(" value=")[1].split(",")[0] for ln in batch.lines] == ["1.0", "6.0", "7.0"]
    assert batch.readings == 3 and batch.refused_readings == 4
    assert batch.future_ts == 2 and batch.stale_ts == 2
    assert len(batch.dead_letters) == 1  # one letter per message, naming each refused reading
    reason = batch.dead_letters[0].reason
    assert reason.startswith("4 of 7 readings refused")
    for i in (1, 2, 3, 4):
        assert f"readings.{i}.ts" in reason
    assert "ahead of the hub clock" in reason and "old (at most 400 days accepted)" in reason
    assert batch.node_seqs == {"n1": [1]}  # acknowledged: it is stored, as points and a dead letter


def test_a_message_from_a_clock_far_ahead_is_dead_lettered_whole():
    p = Processor(TOPICS, NODES, clock=lambda: NOW)
    batch = Batch()
    p.handle("iocgw/v1/n1/telemetry", _msg(1, ts="2026-11-22T07:00:00Z"), batch)  # local time sent as UTC
    assert not batch.lines and batch.readings == 0 and batch.future_ts == 1
    assert "7.0 h ahead of the hub clock" in batch.dead_letters[0].reason
    assert batch.node_seqs == {"n1": [1]}
    status = json.dumps({"v": 1, "node_id": "n1", "seq": 2, "ts": "2199-01-01T00:00:00Z", "state": "online"})
    p.handle("iocgw/v1/n1/status", status.encode(), batch)
    assert not batch.lines and not batch.statuses and len(batch.dead_letters) == 2


def test_maximum_age_is_the_hub_setting():
    from datetime import timedelta

    p = Processor(TOPICS, NODES, clock=lambda: NOW, max_age=timedelta(days=1))
    batch = Batch()
    p.handle("iocgw/v1/n1/telemetry", _msg(1, readings=[{"ts": "2026-11-20T00:00:00Z"}]), batch)
    assert (
        not batch.lines
        and batch.stale_ts == 1
        and "2.0 days old (at most 1 days accepted)" in (batch.dead_letters[0].reason)
    )


def test_a_second_value_for_a_sensor_and_time_is_refused_and_the_first_kept():
    p = Processor(TOPICS, NODES, clock=lambda: NOW)
    batch = Batch()
    t = "2026-11-21T23:00:00Z"
    p.handle("iocgw/v1/n1/telemetry", _msg(1, readings=[{"value": 9.5, "ts": t}]), batch)
    p.handle("iocgw/v1/n1/telemetry", _msg(2, readings=[{"value": 9.5, "ts": t}]), batch)  # the same again
    p.handle("iocgw/v1/n1/telemetry", _msg(3, readings=[{"value": 3.0, "ts": t}, {"value": 9.6}]), batch)
    assert [ln.split(" value=")[1].split(",")[0] for ln in batch.lines] == ["9.5", "9.6"]
    assert batch.repeated_readings == 1 and batch.time_conflicts == 1 and batch.refused_readings == 1
    (letter,) = batch.dead_letters
    assert "readings.0: sensor 'wl' already has 9.5 at 2026-11-21T23:00:00.000Z; a second value (3.0)" in letter.reason
    # Another sensor, or the same sensor at another time, is not a conflict.
    p.handle(
        "iocgw/v1/n1/telemetry",
        _msg(4, readings=[{"sensor_id": "rain", "quantity": "rainfall", "unit": "mm", "value": 3.0, "ts": t}]),
        batch,
    )
    assert len(batch.lines) == 3 and len(batch.dead_letters) == 1


def test_readings_older_than_the_remembered_times_are_stored_and_counted():
    p = Processor(TOPICS, NODES, clock=lambda: NOW)
    batch = Batch()
    p.handle("iocgw/v1/n1/telemetry", _msg(1, readings=[{"ts": "2026-11-21T23:00:00Z"}]), batch)
    p.handle("iocgw/v1/n1/telemetry", _msg(2, readings=[{"ts": "2026-11-21T22:00:00Z"}]), batch)
    assert len(batch.lines) == 2 and batch.unchecked_late == 1 and not batch.dead_letters
