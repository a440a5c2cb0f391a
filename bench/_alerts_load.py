"""bench.alerts' moving parts: the paced background publishers, the edge-like crossing publisher and the signed
webhook receiver.

The background publishers run in processes of their own (multiprocessing 'spawn', like bench._load's) and publish
telemetry at a target rate for as long as the measurement lasts; the crossing publisher and the receiver live in
the benchmark process, so a crossing's publish time and its notification's receipt time come from one clock.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from bench._load import QUANTITIES, TOPIC_PREFIX, iso_ms
from bench._load import connect as connect_mqtt

BACKGROUND_PREFIX = "bench-bg-"


# -- background load ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PacedSpec:
    index: int
    host: str
    port: int
    nodes: tuple[str, ...]
    messages_per_s: float  # this process's share of the target
    readings_per_message: int = 5
    prefix: str = TOPIC_PREFIX
    window: int = 1000  # unacknowledged publishes at most
    ready_timeout_s: float = 60.0
    run_timeout_s: float = 900.0


def _payload(node: str, seq: int, ts_ms: int, rpm: int) -> bytes:
    t = iso_ms(ts_ms)
    readings = ",".join(
        f'{{"sensor_id":"s{i}","quantity":"{QUANTITIES[i % len(QUANTITIES)][0]}","value":{10.0 + (seq * 7 + i) % 97},'
        f'"unit":"{QUANTITIES[i % len(QUANTITIES)][1]}","quality":"good","ts":"{t}"}}'
        for i in range(rpm)
    )
    return f'{{"v":1,"channel":"telemetry","node_id":"{node}","seq":{seq},"ts":"{t}","readings":[{readings}]}}'.encode()


def paced_publisher_main(spec: PacedSpec, ready: Any, go: Any, stop: Any, results: Any) -> None:
    """Publish telemetry round robin over ``spec.nodes`` at ``messages_per_s`` from ``go`` until ``stop``.

    Message k is due at go + k / rate; a publisher that falls behind catches up as fast as its window of
    unacknowledged messages allows (QoS 1), so the rate achieved is reported, not assumed. Every reading has
    the wall clock as its timestamp (one more millisecond per node when two would collide).
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"bench-bg-{spec.index}-{time.time_ns()}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    window = threading.Semaphore(spec.window)
    counts = {"acked": 0, "published": 0, "errors": 0, "late": 0}
    last_ack = [0.0]

    def on_publish(c: mqtt.Client, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        counts["acked"] += 1
        last_ack[0] = time.monotonic()
        window.release()

    try:
        from wire.messages import TelemetryMessage

        TelemetryMessage.model_validate_json(
            _payload(spec.nodes[0], 1, int(time.time() * 1000), spec.readings_per_message)
        )
        client.max_inflight_messages_set(min(spec.window, 65_000))
        client.on_publish = on_publish
        connect_mqtt(client, spec.host, spec.port, spec.ready_timeout_s)
        ready.put(("ready", spec.index))
        if not go.wait(spec.ready_timeout_s):
            raise TimeoutError("no go signal")
        cpu0 = time.process_time()
        t0 = time.monotonic()
        deadline = t0 + spec.run_timeout_s
        seqs = dict.fromkeys(spec.nodes, 0)
        last_ms = dict.fromkeys(spec.nodes, 0)
        k = 0
        while not stop.is_set():
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError("ran past run_timeout_s without a stop signal")
            due = t0 + k / spec.messages_per_s
            if due > now:
                if stop.wait(due - now):  # pacing waits on the stop event: a stop ends it at once
                    break
            elif now - due > 0.1:
                counts["late"] += 1
            if not window.acquire(timeout=30):
                raise TimeoutError(f"no PUBACK for {spec.window} messages in 30 s")
            node = spec.nodes[k % len(spec.nodes)]
            seqs[node] += 1
            ts = max(int(time.time() * 1000), last_ms[node] + 1)
            last_ms[node] = ts
            info = client.publish(
                f"{spec.prefix}/v1/{node}/telemetry", _payload(node, seqs[node], ts, spec.readings_per_message), qos=1
            )
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                counts["errors"] += 1
                window.release()
            else:
                counts["published"] += 1
            k += 1
        t_end = time.monotonic()
        flush_deadline = time.monotonic() + 30
        while counts["acked"] < counts["published"] and time.monotonic() < flush_deadline:
            time.sleep(0.01)
        results.put(
            {
                "index": spec.index,
                "published": counts["published"],
                "acked": counts["acked"],
                "errors": counts["errors"],
                "late": counts["late"],
                "first_publish": t0,
                "last_publish": t_end,
                "last_ack": last_ack[0],
                "cpu_s": time.process_time() - cpu0,
                "error": None,
            }
        )
    except BaseException as exc:
        ready.put(("error", spec.index))
        results.put({"index": spec.index, "error": f"{exc!r}\n{traceback.format_exc()}"})
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
            client.loop_stop()


class Background:
    """The paced publisher processes: split the target over them, start, stop, sum their results."""

    def __init__(
        self, host: str, port: int, readings_per_s: float, rpm: int, nodes: int, processes: int, timeout_s: float
    ) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.ready, self.results = self.ctx.Queue(), self.ctx.Queue()
        self.go, self.stop_event = self.ctx.Event(), self.ctx.Event()
        self.rpm = rpm
        ids = [f"{BACKGROUND_PREFIX}{i + 1:04d}" for i in range(nodes)]
        per_process = readings_per_s / rpm / processes
        self.specs = [
            PacedSpec(
                index=p,
                host=host,
                port=port,
                nodes=tuple(ids[p::processes]),
                messages_per_s=per_process,
                readings_per_message=rpm,
                run_timeout_s=timeout_s,
            )
            for p in range(processes)
        ]
        self.procs: list[Any] = []

    def start(self, timeout: float = 60.0) -> None:
        for spec in self.specs:
            proc = self.ctx.Process(
                target=paced_publisher_main,
                args=(spec, self.ready, self.go, self.stop_event, self.results),
                daemon=True,
            )
            proc.start()
            self.procs.append(proc)
        for _ in self.specs:
            kind, index = self.ready.get(timeout=timeout)
            if kind != "ready":
                raise RuntimeError(f"background publisher {index} failed: {self.results.get(timeout=5)['error']}")
        self.go.set()

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        self.stop_event.set()
        out = [self.results.get(timeout=timeout) for _ in self.procs]
        errors = [r["error"] for r in out if r.get("error")]
        if errors:
            raise RuntimeError("background publisher failed: " + errors[0])
        first = min(r["first_publish"] for r in out)
        last = max(r["last_publish"] for r in out)
        published = sum(r["published"] for r in out)
        return {
            "published_readings": published * self.rpm,
            "acked_readings": sum(r["acked"] for r in out) * self.rpm,
            "first_publish": first,
            "last_publish": last,
            "readings_per_s": published * self.rpm / (last - first) if last > first else None,
            "late": sum(r["late"] for r in out),
            "errors": sum(r["errors"] for r in out),
            "cpu_s": sum(r["cpu_s"] for r in out),
        }

    def close(self) -> None:
        self.stop_event.set()
        for p in self.procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        for q in (self.ready, self.results):
            q.close()
            q.cancel_join_thread()


# -- the crossings ------------------------------------------------------------------------------------------------
class EdgePublisher:
    """One node's telemetry, published like an edge node does (MQTT v5, QoS 1, growing seq), ts = publish time."""

    def __init__(self, host: str, port: int, node_id: str, sensor_id: str, prefix: str = TOPIC_PREFIX) -> None:
        self.node_id, self.sensor_id = node_id, sensor_id
        self.topic = f"{prefix}/v1/{node_id}/telemetry"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{node_id}-{time.time_ns()}", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.host, self.port = host, port
        self.seq = 0
        self.last_ms = 0

    def connect(self, timeout: float = 30.0) -> None:
        connect_mqtt(self.client, self.host, self.port, timeout)

    def publish(self, stage_m: float) -> tuple[int, float]:
        """Publish one water-level reading; (its device timestamp in ms, the wall clock just before publishing)."""
        ts = max(int(time.time() * 1000), self.last_ms + 1)
        self.last_ms = ts
        self.seq += 1
        t = iso_ms(ts)
        payload = (
            f'{{"v":1,"channel":"telemetry","node_id":"{self.node_id}","seq":{self.seq},"ts":"{t}","readings":'
            f'[{{"sensor_id":"{self.sensor_id}","quantity":"water_level","value":{stage_m!r},"unit":"m","ts":"{t}"}}]}}'
        )
        sent = time.time()
        self.client.publish(self.topic, payload.encode(), qos=1)
        return ts, sent

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
            self.client.loop_stop()


# -- the webhook receiver -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    delivery_id: str
    at: float  # time.time() when the request was read and verified
    payload: dict[str, Any]


class WebhookReceiver:
    """A threaded HTTP server checking each delivery's HMAC signature (hub.alerts.notify.webhook.verify), keeping
    each notification once by its X-Iocgw-Delivery id, and waking waiters as deliveries arrive."""

    def __init__(self, secret: str) -> None:
        from hub.alerts.notify.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

        self.received: list[Received] = []
        self.repeats = 0
        self.bad_signatures = 0
        self._seen: set[str] = set()
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the hub's aiohttp session reuses the connection

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                at = time.time()
                ok = verify(secret, self.headers.get(TIMESTAMP_HEADER), body, self.headers.get(SIGNATURE_HEADER))
                delivery = self.headers.get(DELIVERY_HEADER, "")
                with outer._cond:
                    if not ok:
                        outer.bad_signatures += 1
                    elif delivery in outer._seen:
                        outer.repeats += 1
                    else:
                        outer._seen.add(delivery)
                        outer.received.append(Received(delivery, at, json.loads(body)))
                    outer._cond.notify_all()
                self.send_response(204 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, n: int, timeout: float) -> bool:
        """True once ``n`` distinct notifications have arrived; False at the deadline."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
