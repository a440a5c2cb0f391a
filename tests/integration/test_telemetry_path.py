"""Published = stored, point for point, through real Mosquitto, hub process and InfluxDB."""

from __future__ import annotations

import pytest

from tests.conftest import readings_for
from tests.support.influx import count, query
from tests.support.wait import wait_until


def publish(node, first: int, n: int) -> None:
    for i in range(first, first + n):
        node.call(lambda a, i=i: a.record(readings_for(i)))


def stored_points(influx, node_id: str) -> dict[tuple[str, int], float]:
    rows = query(
        influx.url, "iocgw", f'SELECT "value" FROM "water_level" WHERE node_id=\'{node_id}\' GROUP BY sensor_id'
    )
    return {(r["sensor_id"], r["time"]): r["value"] for r in rows}


def expected_points(first: int, n: int) -> dict[tuple[str, int], float]:
    out = {}
    for i in range(first, first + n):
        for r in readings_for(i):
            out[(r.sensor_id, int(r.ts.timestamp() * 1000))] = r.value
    return out


def test_normal_run_stores_every_point(make_hub, make_node, influx):
    hub = make_hub()
    node = make_node("river-001")
    publish(node, 0, 200)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 1000, what="1000 points in InfluxDB")
    assert stored_points(influx, "river-001") == expected_points(0, 200)
    wait_until(lambda: node.call(lambda a: a.outbox.depth) == 0, what="outbox emptied by hub acks")
    m = hub.metrics()
    assert m["readings_received"] == 1000
    assert m["points_written"] >= 1000  # plus the node's status points
    assert m["dead_letters"] == 0
    assert m["duplicates"] == 0


def test_broker_killed_and_restarted_mid_stream(make_hub, make_node, influx, mosquitto):
    make_hub()
    node = make_node("river-002")
    publish(node, 0, 100)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 200, what="first points stored")
    mosquitto.kill()
    publish(node, 100, 100)  # written to the outbox while the broker is dead
    mosquitto.start()
    publish(node, 200, 100)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 1500, timeout=60, what="all 1500 points")
    assert stored_points(influx, "river-002") == expected_points(0, 300)


def test_influxdb_down_then_back(make_hub, make_node, influx):
    hub = make_hub()
    node = make_node("river-003")
    publish(node, 0, 50)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 250, what="first points stored")
    influx.kill()
    publish(node, 50, 150)
    wait_until(lambda: hub.metrics()["points_spooled"] >= 750, what="hub spooling while InfluxDB is down")
    assert hub.get_json("/healthz")["spool_lines"] > 0
    # The hub made the spooled points durable, so nodes may forget them even with InfluxDB still down.
    wait_until(lambda: node.call(lambda a: a.outbox.depth) == 0, what="node outbox confirmed from the spool")
    influx.start()
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 1000, timeout=60, what="spool drained")
    assert stored_points(influx, "river-003") == expected_points(0, 200)
    wait_until(lambda: hub.metrics()["spool_lines"] == 0, what="spool empty")


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_hub_sigkilled_or_stopped_and_restarted(make_hub, make_node, influx, how):
    hub = make_hub()
    node = make_node("river-004")
    publish(node, 0, 100)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 100, what="first points stored")
    getattr(hub, how)()  # SIGKILL mid-batch, or SIGTERM (flush, leave)
    publish(node, 100, 200)  # the broker queues these in the hub's persistent session
    hub.start()
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 1500, timeout=60, what="all 1500 points")
    assert stored_points(influx, "river-004") == expected_points(0, 300)


def test_edge_cut_off_long_backlog_then_reconnected_in_order(make_hub, make_node, influx, mosquitto):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from wire import TelemetryMessage

    make_hub()
    arrivals: list[int] = []
    spy = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="order-spy")
    spy.on_message = lambda c, u, m: arrivals.append(TelemetryMessage.model_validate_json(m.payload).seq)
    spy.connect("127.0.0.1", mosquitto.port)
    spy.subscribe("iocgw/v1/river-005/telemetry", qos=1)
    spy.loop_start()
    try:
        node = make_node("river-005")
        node.call(lambda a: a.link.set_offline(True))
        wait_until(lambda: not node.call(lambda a: a.link.connected), what="node off the broker")
        publish(node, 0, 3000)  # 15,000 readings of backlog while cut off
        assert node.call(lambda a: a.outbox.depth) == 3000
        node.call(lambda a: a.link.set_offline(False))
        publish(node, 3000, 50)  # new readings keep coming while the backlog drains
        wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 15250, timeout=120, what="backlog stored")
        assert stored_points(influx, "river-005") == expected_points(0, 3050)
        wait_until(lambda: len(arrivals) >= 3050, what="spy saw every message")
    finally:
        spy.loop_stop()
        spy.disconnect()
    first_seen = list(dict.fromkeys(arrivals))  # duplicates (resends) removed, first arrival kept
    assert first_seen == sorted(first_seen), "backlog was not delivered in sequence order"
    assert len(first_seen) == 3050


def test_two_hubs_share_the_load_without_loss_or_double_write(make_hub, make_node, influx):
    hub_a = make_hub("hub-a", mqtt={"shared_group": "ingest"})
    hub_b = make_hub("hub-b", mqtt={"shared_group": "ingest"})
    nodes = [make_node(f"river-{i:03d}") for i in range(10, 14)]
    for node in nodes:
        publish(node, 0, 250)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 5000, timeout=60, what="5000 points")
    for node in nodes:
        assert stored_points(influx, node.config.node_id) == expected_points(0, 250)
    a, b = hub_a.metrics(), hub_b.metrics()
    assert a["readings_received"] > 0 and b["readings_received"] > 0, "one hub got nothing: not shared"
    assert a["readings_received"] + b["readings_received"] == 5000, "a message went to both hubs"
    assert a["duplicates"] + b["duplicates"] == 0


def test_a_full_spool_stops_the_acknowledgements_and_loses_nothing(make_hub, make_node, influx):
    """The hub's spool is bounded: once full, the hub stops acknowledging, the nodes keep their readings in their
    outboxes, and everything arrives once InfluxDB is back."""
    # About 20 KiB of spool: a few batches. Batches of at most 200 lines (a few KiB each): while the writer retries
    # the first batch InfluxDB refused, readings pile up, and without a bound the next batch would take them all
    # (up to max_lines, 5,000), going into the empty spool whatever its size, as it should.
    hub = make_hub(batch={"max_spool_mb": 0.02, "max_lines": 200})
    node = make_node("river-009")
    publish(node, 0, 20)
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 100, what="first points stored")
    influx.kill()
    publish(node, 20, 400)
    health = wait_until(lambda: (h := hub.get_json("/healthz"))["spool_full"] and h, what="the spool full")
    assert health["spool_bytes"] <= 0.02 * 1024 * 1024 + 64 * 1024  # the limit, and at most one batch over it
    # Not acknowledged, so the node keeps what the hub could not make durable.
    wait_until(lambda: node.call(lambda a: a.outbox.depth) > 0, what="readings kept in the node's outbox")
    influx.start()
    wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 2100, timeout=120, what="everything stored")
    assert stored_points(influx, "river-009") == expected_points(0, 420)
    assert hub.get_json("/healthz")["spool_full"] is False
