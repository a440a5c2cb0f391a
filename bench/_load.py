"""The load processes of bench.ingest: telemetry publishers and the bare (ceiling) subscriber."""

# Each runs under multiprocessing's 'spawn' context, reports 'ready' on a queue once connected (and, for a
# publisher, once its payloads are built), waits for the shared 'go' event, and puts one result dict on the
# result queue. Every wait has a wall-clock deadline; a process that fails puts {'error': ...} instead.
# Times are ``time.monotonic()``: on Linux that is CLOCK_MONOTONIC, one clock for every process of the machine,
# so the parent can subtract a child's timestamps from its own.

from __future__ import annotations

import json
import math
import os
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

# Sensor i of every load node measures QUANTITIES[i % len(QUANTITIES)] (quantity, canonical unit).
QUANTITIES: tuple[tuple[str, str], ...] = (
    ("water_level", "m"),
    ("rainfall", "mm"),
    ("temperature", "degC"),
    ("humidity", "%"),
    ("pressure", "hPa"),
)
# A plausible level and swing per quantity (canonical units): inside every quality check's limits.
LEVELS: dict[str, tuple[float, float]] = {
    "water_level": (5.0, 0.5),
    "rainfall": (0.4, 0.4),
    "temperature": (28.0, 2.0),
    "humidity": (80.0, 8.0),
    "pressure": (1008.0, 3.0),
}
STEP_MS = 60_000  # a message a minute per node
TOPIC_PREFIX = "iocgw"  # the hub's default mqtt topic prefix: <prefix>/v1/<node_id>/telemetry
NODE_PREFIX = "bench-n"
# A folder each publisher writes its timings to (``_write_timings``); unset by default.
TIMINGS_ENV = "IOCGW_BENCH_LOAD_TIMINGS_DIR"


def measurements(readings_per_message: int) -> list[str]:
    """The InfluxDB measurements the load writes to."""
    return sorted({QUANTITIES[i % len(QUANTITIES)][0] for i in range(readings_per_message)})


def iso_ms(ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC with millisecond precision: 2026-11-22T10:00:00.123Z."""
    s, milli = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{milli:03d}Z"


def node_payloads(
    node_id: str, n_messages: int, readings_per_message: int, prefix: str, now_ms: int
) -> list[tuple[str, bytes]]:
    """One node's telemetry messages, seq 1..n, as (topic, JSON payload).

    Message ``seq`` is stamped ``STEP_MS`` after the one before, the last at ``now_ms`` (the wall clock when the
    payloads are built), so (node, sensor, ts) is unique and no InfluxDB point overwrites another. The values move
    as real sensors do (a slow wave around a plausible level per quantity), so the hub's quality control sees the
    readings a field fleet sends, not a series it must flag at every step.
    """
    topic = f"{prefix}/v1/{node_id}/telemetry"
    out = []
    for seq in range(1, n_messages + 1):
        ts = now_ms - (n_messages - seq) * STEP_MS
        readings = []
        for i in range(readings_per_message):
            quantity, unit = QUANTITIES[i % len(QUANTITIES)]
            base, amplitude = LEVELS[quantity]
            value = round(base + amplitude * math.sin(seq / 40 + i), 2)
            readings.append(
                f'{{"sensor_id":"s{i}","quantity":"{quantity}","value":{value!r},"unit":"{unit}",'
                f'"quality":"good","ts":"{iso_ms(ts)}"}}'
            )
        payload = (
            f'{{"v":1,"channel":"telemetry","node_id":"{node_id}","seq":{seq},"ts":"{iso_ms(ts)}",'
            f'"readings":[{",".join(readings)}]}}'
        )
        out.append((topic, payload.encode()))
    return out


def interleave(per_node: list[list[tuple[str, bytes]]]) -> list[tuple[str, bytes]]:
    """Round robin over nodes (seq 1 of each node, then seq 2, ...), each node's messages in order."""
    out: list[tuple[str, bytes]] = []
    longest = max((len(m) for m in per_node), default=0)
    for k in range(longest):
        out.extend(m[k] for m in per_node if k < len(m))
    return out


@dataclass(frozen=True)
class PublisherSpec:
    index: int
    host: str
    port: int
    prefix: str
    clients: tuple[tuple[tuple[str, int], ...], ...]  # per client: (node_id, messages)
    readings_per_message: int
    qos: int = 1
    inflight: int = 500
    window: int = 1000  # unacknowledged publishes per client (paho mids are 16-bit)
    ready_timeout_s: float = 60.0
    run_timeout_s: float = 600.0


def connect(client: mqtt.Client, host: str, port: int, timeout: float, props: Properties | None = None) -> None:
    """Connect (clean start) and start paho's network thread; raise unless the broker accepts in ``timeout`` s."""
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, rc: Any, p: Any) -> None:
        if rc.is_failure:
            failure.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    client.connect_async(host, port, keepalive=60, clean_start=True, properties=props)
    client.loop_start()
    if not connected.wait(timeout):
        raise TimeoutError(f"no CONNACK from {host}:{port} in {timeout} s")
    if failure:
        raise ConnectionError(f"broker refused the connection: {failure[0]}")


class _PublishingClient:
    """One paho client publishing its message list as fast as a bounded window of unacknowledged messages allows."""

    def __init__(self, spec: PublisherSpec, n: int, messages: list[tuple[str, bytes]]) -> None:
        self.spec = spec
        self.messages = messages
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-pub-{spec.index}-{n}-{time.time_ns()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.max_inflight_messages_set(spec.inflight)
        self.client.on_publish = self._on_publish
        self.window = threading.Semaphore(spec.window)
        self.acked = 0
        self.published = 0
        self.errors = 0
        self.first_publish: float | None = None
        self.last_ack: float | None = None
        self.failure: str | None = None

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        self.acked += 1  # paho calls back from its one network thread
        self.last_ack = time.monotonic()
        self.window.release()

    def run(self, deadline: float) -> None:
        try:
            qos = self.spec.qos
            publish = self.client.publish
            acquire = self.window.acquire
            self.first_publish = time.monotonic()
            for topic, payload in self.messages:
                if not acquire(timeout=max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"no PUBACK for {self.spec.window} messages before the deadline")
                info = publish(topic, payload, qos=qos)
                if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                    self.errors += 1  # not queued by paho: it will never be acknowledged
                    self.window.release()
                    continue
                self.published += 1
            while qos > 0 and self.acked < self.published:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.published - self.acked} publishes unacknowledged at the deadline")
                time.sleep(0.005)
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"


def publisher_main(spec: PublisherSpec, ready: Any, go: Any, results: Any) -> None:
    clients: list[_PublishingClient] = []
    try:
        now_ms = int(time.time() * 1000)
        for n, nodes in enumerate(spec.clients):
            per_node = [
                node_payloads(node, count, spec.readings_per_message, spec.prefix, now_ms) for node, count in nodes
            ]
            clients.append(_PublishingClient(spec, n, interleave(per_node)))
        # The hand-written JSON must be what the contract says: check one message with the real model.
        sample = next((c.messages[0][1] for c in clients if c.messages), None)
        if sample is not None:
            from wire.messages import TelemetryMessage

            TelemetryMessage.model_validate_json(sample)
        for c in clients:
            connect(c.client, spec.host, spec.port, spec.ready_timeout_s)
        ready.put(("ready", spec.index))
        if not go.wait(spec.ready_timeout_s):
            raise TimeoutError("no go signal")
        cpu0 = time.process_time()
        deadline = time.monotonic() + spec.run_timeout_s
        threads = [threading.Thread(target=c.run, args=(deadline,), daemon=True) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + 5)
        failures = [c.failure for c in clients if c.failure]
        result = {
            "role": "publisher",
            "index": spec.index,
            "published": sum(c.published for c in clients),
            "acked": sum(c.acked for c in clients),
            "errors": sum(c.errors for c in clients),
            "first_publish": min((c.first_publish for c in clients if c.first_publish is not None), default=None),
            "last_ack": max((c.last_ack for c in clients if c.last_ack is not None), default=None),
            "cpu_s": time.process_time() - cpu0,
            "error": "; ".join(failures) if failures else None,
        }
        _write_timings(spec.index, result)
        results.put(result)
    except BaseException as exc:
        ready.put(("error", spec.index))
        results.put({"role": "publisher", "index": spec.index, "error": f"{exc!r}\n{traceback.format_exc()}"})
    finally:
        for c in clients:
            try:
                c.client.disconnect()
                c.client.loop_stop()
            except Exception:
                pass


def _write_timings(index: int, result: dict[str, Any]) -> None:
    """With ``TIMINGS_ENV`` set (bench.ingest --cluster): this publisher's first publish and last PUBACK in a file.

    The result dict goes to bench._runs, which keeps only the rate; the cluster figures need the moments themselves
    (the leader's lag after the load ended), and the spawned publishers inherit the parent's environment.
    """
    folder = os.environ.get(TIMINGS_ENV)
    if folder:
        keep = {k: result[k] for k in ("index", "published", "first_publish", "last_ack")}
        (Path(folder) / f"publisher-{index}.json").write_text(json.dumps(keep))


@dataclass(frozen=True)
class SubscriberSpec:
    host: str
    port: int
    topic_filter: str
    expected: int
    qos: int = 1
    receive_maximum: int = 10_000
    ready_timeout_s: float = 60.0
    run_timeout_s: float = 600.0


def subscriber_main(spec: SubscriberSpec, ready: Any, go: Any, results: Any) -> None:
    """Bare paho subscriber (MQTT v5, automatic PUBACK): counts messages, nothing else."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-ceiling-{time.time_ns()}", protocol=MQTTProtocolVersion.MQTTv5
    )
    state = {"count": 0, "first": None, "last": None}
    done = threading.Event()
    subscribed = threading.Event()

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if state["count"] == 0:
            state["first"] = now
        state["count"] += 1
        state["last"] = now
        if state["count"] >= spec.expected:
            done.set()

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        subscribed.set()

    try:
        client.on_message = on_message
        client.on_subscribe = on_subscribe
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = spec.receive_maximum
        connect(client, spec.host, spec.port, spec.ready_timeout_s, props)
        client.subscribe(spec.topic_filter, options=SubscribeOptions(qos=spec.qos))
        if not subscribed.wait(spec.ready_timeout_s):
            raise TimeoutError("no SUBACK")
        ready.put(("ready", -1))
        if not go.wait(spec.ready_timeout_s):
            raise TimeoutError("no go signal")
        cpu0 = time.process_time()
        done.wait(spec.run_timeout_s)
        cpu_s = time.process_time() - cpu0
        results.put(
            {
                "role": "subscriber",
                "received": state["count"],
                "first_receive": state["first"],
                "last_receive": state["last"],
                "cpu_s": cpu_s,
                "error": None if done.is_set() else f"received {state['count']} of {spec.expected} before the deadline",
            }
        )
    except BaseException as exc:
        ready.put(("error", -1))
        results.put({"role": "subscriber", "error": f"{exc!r}\n{traceback.format_exc()}"})
    finally:
        try:
            client.disconnect()
            client.loop_stop()
        except Exception:
            pass
