"""Malformed and hostile payloads through the real broker: dead-lettered with a reason, the hub keeps serving."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.api.auth import Role
from tests.hub.api.support import TOKENS, api_section
from tests.support.influx import count, query
from tests.support.wait import wait_until

HOSTILE = [
    b"",
    b"\xff\xfe\x00garbage",
    b"{",
    b"[]",
    b'{"v":1,"node_id":"n1","seq":1,"ts":"2026-11-22T00:00:00Z","readings":[{"sensor_id":"a","quantity":"water_level",'
    b'"value":NaN,"unit":"m"}]}',
    b'{"v":1,"node_id":"n1","seq":-5,"ts":"2026-11-22T00:00:00Z","readings":[]}',
    json.dumps({"v": 1, "node_id": "n1", "seq": 1, "ts": "2026-11-22T00:00:00Z", "readings": "x" * 10}).encode(),
    b"A" * 300_000,  # over the hub's payload limit
    b'{"a":' * 5000 + b"1" + b"}" * 5000,  # deep nesting
    # Wrong JSON types are refused, never converted: "9.87" and true for a value (true was stored as 1.0 and cleared a
    # flood alarm), "19" and 20.0 for a sequence number.
    *(
        json.dumps(
            {
                "v": 1,
                "node_id": "n1",
                "seq": seq,
                "ts": "2026-11-22T00:00:00Z",
                "readings": [{"sensor_id": "wl", "quantity": "water_level", "value": value, "unit": "m"}],
            }
        ).encode()
        for seq, value in ((5, "9.87"), (6, True), ("19", 9.87), (20.0, 9.87))
    ),
    # A key given twice: another program would read node n2
    b'{"v":1,"node_id":"n2","seq":7,"ts":"2026-11-22T00:00:00Z","node_id":"n1","readings":[{"sensor_id":"wl",'
    b'"quantity":"water_level","value":1.0,"unit":"m"}]}',
]


def good(seq: int) -> bytes:
    from tests.conftest import T0

    return json.dumps(
        {
            "v": 1,
            "node_id": "n1",
            "seq": seq,
            "ts": (T0 + timedelta(seconds=seq)).isoformat(),
            "readings": [{"sensor_id": "wl", "quantity": "water_level", "value": seq / 10, "unit": "m"}],
        }
    ).encode()


def publisher(port: int) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="hostile")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_hub_survives_hostile_payloads(make_hub, mosquitto, influx):
    """Hand-made hostile payloads plus seeded random junk, then valid readings that must all be stored.

    The property-based search over payload shapes runs against the processor in tests/hub/test_processor.py;
    here the same kinds of input cross the real broker and hub process.
    """
    hub = make_hub(api=api_section())
    client = publisher(mosquitto.port)
    rng = random.Random(20261122)
    junk = [rng.randbytes(rng.randint(1, 400)) for _ in range(150)]
    bad = [*HOSTILE, *junk]
    try:
        for i, payload in enumerate(bad):
            client.publish("iocgw/v1/n1/telemetry", payload, qos=1).wait_for_publish(5)
            if i % 40 == 0:
                client.publish("iocgw/v1/n1/telemetry", good(i // 40 + 1), qos=1).wait_for_publish(5)
        valid = len(bad) // 40 + 1
    finally:
        client.loop_stop()
        client.disconnect()
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= valid, what="the valid readings among the junk")
    m = wait_until(lambda: (m := hub.metrics())["dead_letters"] >= len(bad) and m, what="all junk dead-lettered")
    assert m["dead_letters"] == len(bad)
    assert m["readings_received"] == valid
    assert hub.healthy()
    letters = hub.get_json("/api/dead-letters?limit=1000", token=TOKENS[Role.VIEWER])
    assert letters["count"] == len(bad)
    assert all(item["reason"] and item["topic"] == "iocgw/v1/n1/telemetry" for item in letters["items"])
    reasons = " ".join(item["reason"] for item in letters["items"])
    assert "exceeds" in reasons and "Invalid JSON" in reasons and "finite" in reasons
    assert "readings.0.value: Input should be a valid number" in reasons and "seq: Input should be a valid integer" in (
        reasons
    )
    assert "key 'node_id' appears twice" in reasons


def test_status_figures_cannot_break_line_protocol_or_grow_without_bound(make_hub, mosquitto, influx):
    hub = make_hub(api=api_section())
    client = publisher(mosquitto.port)

    def status(seq: int, extra: dict) -> bytes:
        from tests.conftest import T0

        body = {"v": 1, "node_id": "n1", "seq": seq, "ts": T0.isoformat(), "state": "online", "extra": extra}
        return json.dumps(body).encode()

    try:
        for seq, extra in enumerate(
            [{"x\\": 1.0, "y": 2.0}, {f"k{i}": 1.0 for i in range(3000)}, {"cam.gate-1.fps": 5.0}], start=1
        ):
            client.publish("iocgw/v1/n1/status", status(seq, extra), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    wait_until(lambda: query(influx.url, "iocgw", 'SELECT "state" FROM node_status'), what="the good status stored")
    m = wait_until(lambda: (m := hub.metrics())["dead_letters"] >= 2 and m, what="both bad statuses dead-lettered")
    assert m["dead_letters"] == 2
    keys = {r["fieldKey"] for r in query(influx.url, "iocgw", "SHOW FIELD KEYS FROM node_status")}
    assert "x_cam.gate-1.fps" in keys and not any(k.startswith("x_k") or k.startswith("x_x") for k in keys)
    assert len(keys) < 20


def test_a_reading_from_the_future_can_neither_clear_nor_freeze_a_flood_alarm(tmp_path, make_hub, mosquitto, influx):
    """Before the data-time policy, one reading stamped 2199 cleared an active BĐ2 alarm and made every later real
    reading look late, so BĐ3 raised nothing, even after a restart."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import T0
    from tests.integration.test_alerts_path import alerts, flood_config

    hub = make_hub(alerts=flood_config(tmp_path), api=api_section())
    client = publisher(mosquitto.port)
    seq = iter(range(1, 100))

    def send(value: float, reading_ts: str, msg_ts: str | None = None) -> None:
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        reading = {"sensor_id": "stage", "quantity": "water_level", "value": value, "unit": "m", "ts": reading_ts}
        body = {"v": 1, "node_id": "river-longbien-01", "seq": next(seq), "ts": msg_ts or now, "readings": [reading]}
        client.publish("iocgw/v1/river-longbien-01/telemetry", json.dumps(body), qos=1).wait_for_publish(5)

    def at(hours: float) -> str:
        return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")

    try:
        send(10.8, at(0))  # BĐ2
        wait_until(lambda: [a for a in alerts(hub) if a["level"] == 2 and a["state"] == "ACTIVE_UNACK"], what="BĐ2")
        send(8.0, "2199-12-31T00:00:00Z")  # the attack: low water "from the future"
        send(8.0, at(0.5), msg_ts="9999-12-31T00:00:00Z")  # a whole message from a clock far ahead
        send(11.9, at(1))  # a real BĐ3 reading after it
        wait_until(lambda: [a for a in alerts(hub) if a["level"] == 3], what="BĐ3 raised after the attack")
    finally:
        client.loop_stop()
        client.disconnect()
    items = alerts(hub)
    assert len(items) == 1 and items[0]["state"] == "ACTIVE_UNACK" and items[0]["level"] == 3
    m = hub.metrics()
    assert m["future_timestamps"] == 1 and m["dead_letters"] >= 1
    rows = query(influx.url, "iocgw", "SELECT transition, level FROM alarm WHERE rule = 'flood_level'")
    assert [(r["transition"], r["level"]) for r in rows if r["transition"] != "updated"] == [
        ("created", 2),
        ("escalated", 3),
    ]
    assert count(influx.url, "iocgw", "water_level") == 2  # the two real readings, nothing from 2199
    letters = hub.get_json("/api/dead-letters?limit=10", token=TOKENS[Role.VIEWER])["items"]
    reasons = sorted(item["reason"] for item in letters)
    assert len(reasons) == 2 and any("readings.0.ts: ts 2199-12-31" in r for r in reasons)


def test_lines_influxdb_refuses_are_dead_lettered_alone_and_the_counters_match_the_store(make_hub, mosquitto, influx):
    """Before, one refused line dead-lettered its whole batch (other nodes' readings too) and points_written counted
    it as written."""
    from hub.config import HubInflux
    from hub.store.influx import InfluxWriter, Outcome
    from tests.conftest import T0

    hub = make_hub(api=api_section())
    ms = int(T0.timestamp() * 1000)
    # An older writer put water_level's value in as a string: InfluxDB now refuses every float value for it there.
    w = InfluxWriter(HubInflux(url=influx.url, database="iocgw"))
    assert w.write_once(f'water_level,node_id=legacy value="9,5 m" {ms}\n'.encode()).outcome is Outcome.WRITTEN
    client = publisher(mosquitto.port)
    try:
        for seq in range(1, 6):
            readings = [
                {"sensor_id": "t", "quantity": "temperature", "value": 20.0 + seq, "unit": "degC"},
                {"sensor_id": "wl", "quantity": "water_level", "value": 9.0 + seq, "unit": "m"},
            ]
            ts = (T0 + timedelta(minutes=seq)).isoformat()
            body = {"v": 1, "node_id": f"n{seq % 2}", "seq": seq, "ts": ts, "readings": readings}
            client.publish(f"iocgw/v1/n{seq % 2}/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    m = wait_until(
        lambda: (m := hub.metrics())["readings_received"] >= 10 and m["points_rejected"] >= 5 and m,
        what="ten readings in, five refused by InfluxDB",
    )
    assert count(influx.url, "iocgw", "temperature") == 5
    assert m["points_written"] == 5 and m["points_rejected"] == 5 and m["dead_letters"] == 5
    letters = hub.get_json("/api/dead-letters?limit=10", token=TOKENS[Role.VIEWER])["items"]
    assert {item["topic"] for item in letters} == {"influx:write"}
    assert all("field type conflict" in item["reason"] for item in letters)


def test_a_clock_stepping_back_cannot_overwrite_stored_readings(make_hub, mosquitto, influx):
    """Before, a second value for the same sensor and time replaced the first in InfluxDB while the hub counted two
    readings written."""
    from tests.conftest import T0

    hub = make_hub(api=api_section())
    client = publisher(mosquitto.port)
    at = [(T0 + timedelta(minutes=i)).isoformat() for i in range(3)]
    try:
        for seq, (ts, value) in enumerate([(at[0], 9.5), (at[1], 9.6), (at[0], 1.0), (at[1], 9.6), (at[2], 9.7)], 1):
            reading = {"sensor_id": "wl", "quantity": "water_level", "value": value, "unit": "m", "ts": ts}
            body = {"v": 1, "node_id": "n1", "seq": seq, "ts": at[2], "readings": [reading]}
            client.publish("iocgw/v1/n1/telemetry", json.dumps(body), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    m = wait_until(lambda: (m := hub.metrics())["messages_received"] >= 5 and m, what="five messages handled")
    rows = query(influx.url, "iocgw", "SELECT value FROM water_level WHERE sensor_id = 'wl'")
    assert [r["value"] for r in rows] == [9.5, 9.6, 9.7]  # the first value at T0 kept
    assert m["points_written"] == 3 and m["reading_time_conflicts"] == 1 and m["readings_repeated"] == 1
    (letter,) = hub.get_json("/api/dead-letters?limit=10", token=TOKENS[Role.VIEWER])["items"]
    assert "already has 9.5" in letter["reason"]


def test_one_node_sending_junk_cannot_fill_the_hubs_disk(make_hub, mosquitto, influx):
    hub = make_hub(api=api_section(), dead_letters={"max_mb": 0.02})  # 20 KiB of dead letters kept
    client = publisher(mosquitto.port)
    try:
        for i in range(2200):
            client.publish("iocgw/v1/n1/telemetry", b"junk %d" % i + b"." * 60, qos=1)
        client.publish("iocgw/v1/n1/telemetry", b"last", qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    wait_until(lambda: hub.metrics()["dead_letters"] >= 2201, what="all junk counted")

    def settled():
        kept = hub.get_json("/api/dead-letters?limit=1000", token=TOKENS[Role.VIEWER])
        m = hub.metrics()
        return m["dead_letters"] == m["dead_letters_pruned"] + kept["count"] and (m, kept)

    # Every letter is accounted for: kept, or counted as pruned (checked every 1,000 letters or every minute).
    m, kept = wait_until(settled, what="dead letters = kept + pruned")
    assert m["dead_letters"] == 2201 and m["dead_letters_pruned"] > 0
    # 20 KiB (about 170 letters) kept at the last pruning, plus at most the 1,000 that may come before the next.
    assert kept["count"] <= 1200
    newest = kept["items"][0]
    assert newest["payload_size"] == 4  # b"last": the newest are the ones kept


def test_requests_the_hub_cannot_parse_never_put_a_token_in_its_log(make_hub):
    import socket

    hub = make_hub(api=api_section())
    token = TOKENS[Role.OFFICER]
    requests = [
        # an over-long request line with the header right after it
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n",
        # a request aiohttp cannot parse at all, quoting its bytes
        b"G\x00T /api/nodes HTTP/1.1\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n",
        b"GET /api/nodes HTTP/1.1\r\nAuthorization: Bearer " + token.encode() + b"\r\nX: " + b"b" * 9000 + b"\r\n\r\n",
        # an over-long Authorization header: aiohttp quotes its start, the token
        b"GET /api/nodes HTTP/1.1\r\nAuthorization: Bearer " + token.encode() + b" " + b"a" * 9000 + b"\r\n\r\n",
    ]
    for raw in requests:
        with socket.create_connection(("127.0.0.1", hub.http_port), timeout=10) as s:
            s.sendall(raw)
            status_line = s.recv(100).split(b"\r\n", 1)[0]
            assert status_line.startswith(b"HTTP/1.") and b" 400 " in status_line
    # The hub wrote its errors (so the log was written after the requests), and no token is in them.
    wait_until(lambda: hub.log.read_text().count("Error handling request") >= 3, what="the bad requests logged")
    text = hub.log.read_text()
    assert token not in text and token[:12] not in text
    assert "[redacted]" in text or "Authorization" not in text


def _ms(iso: str) -> int:
    from datetime import datetime

    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def test_a_hostile_node_among_good_ones_changes_nothing_it_should_not(tmp_path, make_hub, mosquitto, influx):
    """Seeded: every class of bad message (and schema fuzz) interleaved with good traffic from other nodes. Every
    good reading is stored exactly once, every bad message is dead-lettered once with a reason, replays are counted,
    and the flood alarms are exactly those the good readings make."""
    import yaml

    from bench.hostile import expected_alarms
    from simulators.hostile import plan, stations

    planned, nodes = plan(seed=20261203, good_nodes=3, rounds=4)
    table = tmp_path / "flood.yaml"
    table.write_text(yaml.safe_dump({"stations": stations(nodes)}, allow_unicode=True))
    hub = make_hub(api=api_section(), alerts={"flood_stations": str(table), "freshness": {"enabled": False}})
    client = publisher(mosquitto.port)
    try:
        for p in planned:
            client.publish(p.topic, p.payload, qos=1)
        client.publish("iocgw/v1/good-1/telemetry", b"end", qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    bad = sum(p.kind == "bad" for p in planned) + 1  # and the closing b"end"
    replays = sum(p.kind == "duplicate" for p in planned)
    good = [r for p in planned for r in p.good_readings]
    m = wait_until(
        lambda: (m := hub.metrics())["dead_letters"] >= bad and m["readings_received"] >= len(good) and m,
        timeout=60,
        what="every message handled",
    )
    assert m["dead_letters"] == bad and m["duplicates"] == replays and m["readings_received"] == len(good)
    for measurement, sensor in (("water_level", "stage"), ("temperature", "temp")):
        rows = query(influx.url, "iocgw", f'SELECT "value", node_id FROM "{measurement}"')
        stored = sorted((r["node_id"], r["value"], r["time"]) for r in rows)
        wanted = sorted((n, v, _ms(ts)) for n, s, v, ts in good if s == sensor)
        assert stored == wanted, measurement  # each good reading exactly once, at its time, with its value
    got: dict[str, list[tuple[str, int]]] = {}
    for r in query(influx.url, "iocgw", "SELECT transition, level, subject FROM alarm WHERE rule = 'flood_level'"):
        got.setdefault(r["subject"], []).append((r["transition"], r["level"]))
    assert got == expected_alarms(planned, nodes)
    assert f"st-{nodes[-1]}" in got  # the hostile node's own station had alarms to lose
    letters = hub.get_json("/api/dead-letters?limit=1000", token=TOKENS[Role.VIEWER])["items"]
    assert len(letters) == bad and all(item["reason"] for item in letters)
