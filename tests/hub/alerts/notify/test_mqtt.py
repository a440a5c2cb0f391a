"""The MQTT notifier against a real Mosquitto, read back by a real paho subscriber."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.alerts.alarm import Condition, Transition, apply_condition
from hub.alerts.notify import Notification, NotifyError
from hub.alerts.notify.mqtt import MqttNotifier, MqttTargetConfig, alert_topic, alerts_filter
from testkit.localsvc import Mosquitto, free_port
from tests.hub.alerts.notify.stubs import T0, VI_MESSAGE, make_alarm, run


def read_retained(port: int, topic_filter: str, expect: int, timeout: float = 5.0) -> dict[str, paho.MQTTMessage]:
    """Connect a fresh subscriber and collect the retained messages the broker hands it."""
    got: queue.Queue[paho.MQTTMessage] = queue.Queue()
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-reader", protocol=MQTTProtocolVersion.MQTTv5)
    sub.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
    sub.on_message = lambda c, u, msg: got.put(msg)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    out: dict[str, paho.MQTTMessage] = {}
    try:
        deadline = time.monotonic() + timeout
        while len(out) < expect:
            msg = got.get(timeout=max(0.01, deadline - time.monotonic()))
            out[msg.topic] = msg
    finally:
        sub.disconnect()
        sub.loop_stop()
    return out


def test_topic_layout_and_rejected_names():
    assert alert_topic("iocgw", "flood_level", "river-x/stage") == "iocgw/alerts/v1/flood_level/river-x/stage"
    assert alerts_filter("hn") == "hn/alerts/v1/#"
    for subject in ("a/+/b", "a/#", "", "a//b", "trạm\x00"):
        with pytest.raises(ValueError):
            alert_topic("iocgw", "flood_level", subject)
    with pytest.raises(ValueError):
        alert_topic("iocgw", "flood/level", "s")


def test_wildcard_subject_is_a_final_error():
    async def main():
        n = MqttNotifier(MqttTargetConfig(name="board", port=free_port()))
        with pytest.raises(NotifyError, match=r"'\+'") as err:
            await n.send(Notification.make(make_alarm(subject="river-x/+"), Transition.CREATED, "board", T0))
        assert err.value.retryable is False

    run(main())


def test_latest_state_of_each_subject_is_retained(tmp_path: Path):
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    created = make_alarm(subject="sông-hồng/hà-nội")
    other = make_alarm(rule="heavy_rain", subject="01001", message="Mưa lớn")
    cleared, t = apply_condition(
        created, created.rule, created.subject, Condition(active=False), T0 + timedelta(hours=1)
    )
    assert t is Transition.CLEARED

    async def main():
        n = MqttNotifier(MqttTargetConfig(name="board", port=broker.port, prefix="hn", timeout_s=5))
        await n.start()
        try:
            await n.send(Notification.make(created, Transition.CREATED, "board", T0))
            await n.send(Notification.make(other, Transition.CREATED, "board", T0))
            await n.send(Notification.make(cleared, Transition.CLEARED, "board", T0))
        finally:
            await n.close()

    try:
        run(main())
        got = read_retained(broker.port, "hn/alerts/v1/#", expect=2)
    finally:
        broker.kill()
    msg = got["hn/alerts/v1/flood_level/sông-hồng/hà-nội"]
    assert msg.retain and msg.qos == 1
    assert msg.properties.ContentType == "application/json"
    doc = json.loads(msg.payload.decode("utf-8"))
    assert doc["alarm"]["state"] == "CLEARED_UNACK" and doc["alarm"]["message"] == VI_MESSAGE
    assert json.loads(got["hn/alerts/v1/heavy_rain/01001"].payload)["alarm"]["message"] == "Mưa lớn"


def test_broker_down_is_retryable_then_delivery_resumes(tmp_path: Path):
    port = free_port()
    broker = Mosquitto(tmp_path / "mosquitto", port=port)

    async def main():
        n = MqttNotifier(MqttTargetConfig(name="board", port=port, timeout_s=0.5))
        await n.start()
        note = Notification.make(make_alarm(), Transition.CREATED, "board", T0)
        try:
            with pytest.raises(NotifyError, match="not connected") as err:
                await n.send(note)
            assert err.value.retryable
            await asyncio.to_thread(broker.start)
            deadline = time.monotonic() + 10
            while True:  # what the dispatcher's retries do; paho reconnects in its own thread meanwhile
                try:
                    await n.send(note)
                    break
                except NotifyError:
                    if time.monotonic() > deadline:
                        raise
        finally:
            await n.close()

    try:
        run(main())
        got = read_retained(port, "iocgw/alerts/v1/#", expect=1)
    finally:
        broker.kill()
    assert list(got) == ["iocgw/alerts/v1/flood_level/river-x/stage"]
