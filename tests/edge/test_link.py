"""The node's MQTT link against a real Mosquitto: sequence numbers without holes, and a clean stop that drains."""

from __future__ import annotations

import asyncio
import json
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.link import Link
from edge.outbox import Outbox
from wire import Topics
from wire.nodeconfig import Confirm, MqttSettings


def _status(seq: int, state: str) -> bytes:
    return json.dumps({"node_id": "n1", "seq": seq, "state": state}).encode()


def _retained_status(port: int) -> dict:
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)

    def on_message(c, u, msg):
        got.append(msg.payload)
        done.set()

    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(Topics("iocgw").status("n1"), qos=1)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert done.wait(10), "no retained status on the broker"
    finally:
        client.loop_stop()
        client.disconnect()
    return json.loads(got[0])


async def _run_until(link: Link, condition, stop: asyncio.Event) -> None:
    task = asyncio.create_task(link.run(stop))
    for _ in range(400):
        if condition():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("condition never held")
    stop.set()
    await asyncio.wait_for(task, 30)


def test_failed_attempts_and_clean_stop_leave_no_hole(tmp_path, mosquitto):
    mosquitto.stop()
    outbox = Outbox(tmp_path / "outbox.db")
    settings = MqttSettings(port=mosquitto.port, reconnect_min_s=0.05, reconnect_max_s=0.1)
    link = Link(
        "n1",
        settings,
        outbox,
        will_payload=lambda seq: _status(seq, "offline"),
        goodbye_payload=lambda seq: _status(seq, "stopped"),
    )

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(link.run(stop))
        for _ in range(400):  # several refused attempts while the broker is down
            if link.counters["failed_attempts"] >= 3:
                break
            await asyncio.sleep(0.05)
        assert link.counters["failed_attempts"] >= 3 and "failed" in (link.last_error or "")
        assert link.counters["connects"] == 0
        mosquitto.start()
        for _ in range(400):
            if link.connected:
                break
            await asyncio.sleep(0.05)
        assert link.connected
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(body())
    goodbye = _retained_status(mosquitto.port)
    # Every failed attempt armed the same will (seq 1); the goodbye reuses it, so the next number is 2.
    assert goodbye == {"node_id": "n1", "seq": 1, "state": "stopped"}
    assert outbox.allocate_seq() == 2
    outbox.close()


def test_clean_stop_drains_the_outbox(tmp_path, mosquitto):
    outbox = Outbox(tmp_path / "outbox.db")
    topic = Topics("iocgw").telemetry("n1")
    outbox.enqueue_many([(topic, lambda seq: b'{"x": %d}' % seq)] * 2000)
    link = Link(
        "n1",
        MqttSettings(port=mosquitto.port, window=20),
        outbox,
        confirm=Confirm.BROKER,
        drain_s=30,
    )

    async def body() -> None:
        stop = asyncio.Event()
        # Stop as soon as the link is up: most of the 2000 messages are still to be sent.
        await _run_until(link, lambda: link.connected, stop)

    asyncio.run(body())
    assert outbox.depth == 0
    assert link.counters["confirmed"] == 2000
    outbox.close()


def test_missing_tls_files_are_retried_not_fatal(tmp_path, mosquitto):
    from wire.nodeconfig import TlsSettings

    ca = tmp_path / "ca.crt"  # not there yet: the technician is still copying it
    settings = MqttSettings(port=mosquitto.port, reconnect_min_s=0.05, reconnect_max_s=0.1, tls=TlsSettings(ca_file=ca))
    outbox = Outbox(tmp_path / "outbox.db")
    link = Link("n1", settings, outbox)

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(link.run(stop))
        for _ in range(400):
            if link.counters["failed_attempts"] >= 3:  # retried, not given up after the first
                break
            await asyncio.sleep(0.05)
        assert link.counters["failed_attempts"] >= 3 and "cannot set up the connection" in (link.last_error or "")
        assert not task.done(), "the link gave up"
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(body())
    assert link.counters["connects"] == 0 and "ca.crt" in (link.last_error or "")
    outbox.close()


def test_snapshots_leave_the_outbox_on_puback_even_in_hub_mode(tmp_path, mosquitto):
    outbox = Outbox(tmp_path / "outbox.db")
    topics = Topics("iocgw")
    outbox.enqueue(topics.snapshot("n1", "cam1", "fire"), lambda seq: b"\xff\xd8jpeg", retain=True)
    outbox.enqueue(topics.telemetry("n1"), lambda seq: b'{"x": 1}')
    link = Link("n1", MqttSettings(port=mosquitto.port), outbox, confirm=Confirm.HUB)

    async def body() -> None:
        # No hub here: the telemetry waits for an ack that never comes; the snapshot needs only the broker.
        await _run_until(link, lambda: link.counters["confirmed"] >= 1, asyncio.Event())

    asyncio.run(body())
    assert [r.topic for r in outbox.after(0, 10)] == [topics.telemetry("n1")]
    outbox.close()


def test_a_message_over_the_brokers_packet_size_is_set_aside_not_sent_forever(tmp_path):
    """Before, the broker dropped the connection on it, and the node sent it again after every reconnect."""
    from testkit.localsvc import Mosquitto

    broker = Mosquitto(tmp_path / "mosquitto", extra_config="max_packet_size 4096")
    broker.start()
    outbox = Outbox(tmp_path / "outbox.db")
    topic = Topics("iocgw").telemetry("n1")
    small = [(topic, lambda seq: b'{"x": %d}' % seq)] * 3
    big = [(topic, lambda seq: b'{"x": "' + b"a" * 10_000 + b'"}')]
    outbox.enqueue_many(small + big + small)
    # The node's own setting is the provisioned 2 MiB; the broker announces 4 KiB in its CONNACK and that wins.
    link = Link("n1", MqttSettings(port=broker.port, window=20), outbox, confirm=Confirm.BROKER, drain_s=10)
    try:

        async def body() -> None:
            stop = asyncio.Event()
            await _run_until(link, lambda: outbox.depth == 0, stop)

        asyncio.run(body())
    finally:
        broker.kill()
    assert link.counters["confirmed"] == 6 and link.counters["oversize"] == 1 and outbox.oversize == 1
    assert link.counters["connects"] == 1  # never dropped by the broker
    row = outbox._conn.execute("SELECT seq, size, reason FROM set_aside").fetchone()
    assert row[0] == 4 and row[1] > 10_000 and "maximum packet size of 4096" in row[2]
    assert "set aside" in (link.last_error or "")
    outbox.close()
