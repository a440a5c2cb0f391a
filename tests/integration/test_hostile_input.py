"""Malformed and hostile payloads through the real broker: dead-lettered with a reason, the hub keeps serving."""

from __future__ import annotations

import json
import random

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.api.auth import Role
from tests.hub.api.support import TOKENS, api_section
from tests.support.influx import count
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
]


def good(seq: int) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "node_id": "n1",
            "seq": seq,
            "ts": f"2026-11-22T00:00:{seq:02d}Z",
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
