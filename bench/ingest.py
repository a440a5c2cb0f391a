"""End-to-end ingest benchmark: load generator -> Mosquitto -> hub -> InfluxDB, against a bare-subscriber ceiling.

``iocgw bench ingest`` or ``python -m bench.ingest``. Progress goes to stderr; the last stdout line is one JSON
object of figures (docs/benchmarks.md explains each). Exit code 0 when no reading was lost, 1 otherwise.

1. Mosquitto and InfluxDB start as child processes in a runtime folder (iocgw.localsvc).
2. Ceiling run: a bare paho subscriber process (MQTT v5, QoS 1, automatic PUBACK, counts only) receives while
   the load generator publishes the same messages as in the hub run.
3. Hub run: ``python -m iocgw hub run`` as a child process; the load generator publishes; the InfluxDB count is
   polled until every reading is stored; a probe measures device timestamp -> queryable latency.
4. Backlog run (unless --no-backlog; one hub only): the hub stopped, the same load queued in the broker for its
   persistent session, the hub started again: how fast the hub alone drains it, not sharing the CPU with the
   load generator.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench._load import (
    NODE_PREFIX,
    PublisherSpec,
    SubscriberSpec,
    iso_ms,
    measurements,
    publisher_main,
    subscriber_main,
)
from iocgw.localsvc import InfluxDB, Mosquitto, free_port

REPO = Path(__file__).resolve().parents[1]
PREFIX = "iocgw"
PROBE_NODE = "probe"
PROBE_MEASUREMENT = "water_level"
COUNT_POLL_S = 0.25
BACKLOG_PREFIX = "bench-b"  # node ids of the backlog run (fresh ids: their sequence numbers start at 1 again)


def log(msg: str) -> None:
    print(f"[bench.ingest {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- arguments ------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=int, default=50, help="distinct node ids in the load (default 50)")
    p.add_argument("--messages", type=int, default=None, help="telemetry messages in total (default 60000)")
    p.add_argument("--readings-per-message", type=int, default=5, help="readings per message (default 5)")
    p.add_argument("--publishers", type=int, default=2, help="load-generator processes (default 2)")
    p.add_argument("--clients-per-publisher", type=int, default=2, help="paho clients per publisher (default 2)")
    p.add_argument("--runtime", default=None, help="folder for broker, InfluxDB and hub data (default: a temp dir)")
    p.add_argument("--qos", type=int, choices=(1,), default=1, help="MQTT QoS of the load (1)")
    p.add_argument("--quick", action="store_true", help="small smoke-test run (2000 messages)")
    p.add_argument("--probes", type=int, default=None, help="latency probes during the load (default 150)")
    p.add_argument("--idle-probes", type=int, default=None, help="latency probes after the load (default 40)")
    p.add_argument("--probe-interval", type=float, default=0.05, help="seconds between probes (default 0.05)")
    p.add_argument("--batch-lines", type=int, default=5000, help="hub batch.max_lines (default 5000)")
    p.add_argument("--batch-delay", type=float, default=0.25, help="hub batch.max_delay_s (default 0.25)")
    p.add_argument("--receive-maximum", type=int, default=10_000, help="hub and ceiling MQTT receive maximum")
    p.add_argument("--timeout", type=float, default=300.0, help="longest wait for each run to drain, s (default 300)")
    p.add_argument("--hubs", type=int, default=1, help="hub processes sharing the load (mqtt.shared_group)")
    p.add_argument("--no-backlog", dest="backlog", action="store_false", help="skip the backlog-drain run")
    p.add_argument("--skip-ceiling", action="store_true", help="hub run only (no ratio_to_ceiling)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")
    p.add_argument(
        "--profile-hub",
        default=None,
        metavar="FILE",
        help="py-spy the hub during the hub run (.svg flame graph, .txt collapsed stacks, .json speedscope)",
    )
    p.add_argument(
        "--profile-gil", action="store_true", help="with --profile-hub: sample only the thread holding the GIL"
    )


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    a = argparse.Namespace(**vars(args))
    if a.messages is None:
        a.messages = 2000 if a.quick else 60_000
    if a.probes is None:
        a.probes = 40 if a.quick else 150
    if a.idle_probes is None:
        a.idle_probes = 20 if a.quick else 40
    for name in ("nodes", "messages", "readings_per_message", "publishers", "clients_per_publisher", "hubs"):
        if getattr(a, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    if a.messages < a.nodes:
        raise ValueError("--messages must be at least --nodes")
    if a.readings_per_message > 1000:
        raise ValueError("--readings-per-message is at most 1000 (the contract's limit)")
    return a


# -- small helpers --------------------------------------------------------------------------------------------
class Influx:
    """InfluxDB v1 /query over one kept-alive connection (one thread each)."""

    def __init__(self, url: str, db: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.db = parts.hostname or "127.0.0.1", parts.port or 8086, db
        self._conn: http.client.HTTPConnection | None = None

    def query(self, q: str) -> list[dict[str, Any]]:
        path = "/query?" + urllib.parse.urlencode({"db": self.db, "q": q, "epoch": "ms"})
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self._conn.request("GET", path)
                resp = self._conn.getresponse()
                data = json.loads(resp.read())
                break
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        result = data["results"][0]
        if "error" in result:
            if "database not found" in result["error"]:
                return []
            raise RuntimeError(result["error"])
        rows = []
        for series in result.get("series", []):
            cols, tags = series["columns"], series.get("tags", {})
            rows.extend({**tags, **dict(zip(cols, v, strict=True))} for v in series["values"])
        return rows

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _proc_stat(pid: int | None) -> tuple[float, float] | None:
    """(CPU seconds user+system, peak RSS MiB) of a live process, from /proc."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return cpu, (int(m.group(1)) / 1024 if m else 0.0)


def _machine_busy() -> tuple[float, float]:
    """CPU seconds all cores have spent busy since boot (every process, ours or not), and of that in interrupts."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]] + [0] * 8
    busy = sum(f[:8]) - f[3] - f[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK"), (f[5] + f[6]) / os.sysconf("SC_CLK_TCK")  # irq + softirq


def _cores(
    cpu_s: dict[str, float | None], window: float, machine0: tuple[float, float], machine1: tuple[float, float]
) -> dict[str, float | None]:
    """Average cores used over ``window``: per process group; the whole machine; the kernel's interrupt work
    (loopback TCP is mostly softirq, charged to no process); and 'other' (the rest: processes not ours)."""
    out: dict[str, float | None] = {k: (v / window if v is not None else None) for k, v in cpu_s.items()}
    machine, irq = machine1[0] - machine0[0], machine1[1] - machine0[1]
    out["machine"] = machine / window
    out["irq"] = irq / window
    out["other"] = max(0.0, machine - irq - sum(v for v in cpu_s.values() if v is not None)) / window
    return out


def _cpu_delta(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, v0 in before.items():
        v1 = after.get(k)
        out[k] = v1 - v0 if v0 is not None and v1 is not None else None
    return out


def _cpu(pid: int | None) -> float | None:
    s = _proc_stat(pid)
    return s[0] if s else None


def _version(cmd: list[str], pattern: str, fallback: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        m = re.search(pattern, out.stdout + out.stderr)
        return m.group(1) if m else fallback
    except (OSError, subprocess.SubprocessError):
        return fallback


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(x, nd)


class HubChild:
    """``python -m iocgw hub run --config FILE`` as a child process, with /healthz and /metrics."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "hub.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.http_port = int(config["http"]["port"])
        self.log_path = workdir / "hub.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 60.0) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "iocgw", "hub", "run", "--config", str(self.config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}; see {self.log_path}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(f"hub /healthz not 200 after {timeout} s; see {self.log_path}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, value = line.rsplit(" ", 1)
                out[name.removeprefix("iocgw_hub_").removesuffix("_total")] = float(value)
        return out

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"hub did not stop in {timeout} s: killing it")
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


class Probe:
    """Single-reading messages from their own node, each polled in InfluxDB until queryable.

    Latency = wall clock when a query first returns the point - the reading's device timestamp (= wall clock
    when it was published). One thread sends every ``interval`` s and queries every ``poll_s`` s between sends.
    """

    def __init__(self, host: str, port: int, influx_url: str, db: str) -> None:
        self.influx = Influx(influx_url, db)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{time.time_ns()}", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.host, self.port = host, port
        self.topic = f"{PREFIX}/v1/{PROBE_NODE}/telemetry"
        self.seq = 0
        self.last_ts = 0
        self.latencies_ms: list[float] = []
        self.missing = 0
        self.error: str | None = None

    def connect(self, timeout: float = 30.0) -> None:
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect_async(self.host, self.port, keepalive=60, clean_start=True)
        self.client.loop_start()
        if not connected.wait(timeout):
            raise TimeoutError("probe: no CONNACK")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
            self.client.loop_stop()
        self.influx.close()

    def _send(self) -> int:
        ts = max(int(time.time() * 1000), self.last_ts + 1)
        self.last_ts = ts
        self.seq += 1
        t = iso_ms(ts)
        payload = (
            f'{{"v":1,"channel":"telemetry","node_id":"{PROBE_NODE}","seq":{self.seq},"ts":"{t}","readings":'
            f'[{{"sensor_id":"p0","quantity":"{PROBE_MEASUREMENT}","value":{float(self.seq)},"unit":"m","ts":"{t}"}}]}}'
        )
        self.client.publish(self.topic, payload.encode(), qos=1)
        return ts

    def run(self, count: int, interval: float, give_up_s: float = 60.0, poll_s: float = 0.005) -> list[float]:
        """Send ``count`` probes; return their latencies (ms). Probes not seen in ``give_up_s`` count as missing."""
        found: list[float] = []
        pending: set[int] = set()
        sent = 0
        next_send = time.monotonic()
        try:
            while sent < count or pending:
                now = time.monotonic()
                if sent < count and now >= next_send:
                    pending.add(self._send())
                    sent += 1
                    next_send += interval
                if pending:
                    oldest = min(pending)
                    rows = self.influx.query(
                        f'SELECT "value" FROM "{PROBE_MEASUREMENT}" WHERE "node_id" = \'{PROBE_NODE}\' '
                        f"AND time >= {oldest}ms"
                    )
                    seen_ms = time.time() * 1000
                    for row in rows:
                        ts = int(row["time"])
                        if ts in pending:
                            pending.discard(ts)
                            found.append(seen_ms - ts)
                    for ts in [t for t in pending if seen_ms - t > give_up_s * 1000]:
                        pending.discard(ts)
                        self.missing += 1
                time.sleep(poll_s)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.missing += len(pending) + (count - sent)
        self.latencies_ms.extend(found)
        return found


# -- the runs -------------------------------------------------------------------------------------------------
class LoadGenerator:
    """Publisher processes (spawned), each with a few paho clients; nodes split over all clients."""

    def __init__(self, a: argparse.Namespace, port: int, node_prefix: str = NODE_PREFIX) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        n_clients = a.publishers * a.clients_per_publisher
        per_node = [a.messages // a.nodes + (1 if i < a.messages % a.nodes else 0) for i in range(a.nodes)]
        width = max(4, len(str(a.nodes)))
        client_nodes: list[list[tuple[str, int]]] = [[] for _ in range(n_clients)]
        for i, count in enumerate(per_node):
            client_nodes[i % n_clients].append((f"{node_prefix}{i + 1:0{width}d}", count))
        self.specs = [
            PublisherSpec(
                index=p,
                host="127.0.0.1",
                port=port,
                prefix=PREFIX,
                clients=tuple(
                    tuple(client_nodes[p * a.clients_per_publisher + c]) for c in range(a.clients_per_publisher)
                ),
                readings_per_message=a.readings_per_message,
                qos=a.qos,
                run_timeout_s=a.timeout,
            )
            for p in range(a.publishers)
        ]
        self.ready = self.ctx.Queue()
        self.results = self.ctx.Queue()
        self.go = self.ctx.Event()
        self.procs: list[Any] = []

    def spawn(self, target: Callable[..., None], spec: Any) -> None:
        proc = self.ctx.Process(target=target, args=(spec, self.ready, self.go, self.results), daemon=True)
        proc.start()
        self.procs.append(proc)

    def wait_ready(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        got = 0
        while got < n:
            try:
                kind, index = self.ready.get(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            except Exception:  # queue.Empty
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n - got} load processes not ready after {timeout} s") from None
                if any(p.exitcode not in (None, 0) for p in self.procs):
                    raise RuntimeError("a load process died while starting") from None
                continue
            if kind != "ready":
                raise RuntimeError(f"load process {index} failed to start: {self._first_error()}")
            got += 1

    def _first_error(self) -> str:
        with contextlib.suppress(Exception):
            r = self.results.get(timeout=2)
            return str(r.get("error"))
        return "(no detail)"

    def start_publishers(self) -> None:
        for spec in self.specs:
            self.spawn(publisher_main, spec)

    def collect(self, n: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        out: list[dict[str, Any]] = []
        while len(out) < n:
            try:
                out.append(self.results.get(timeout=max(0.1, min(1.0, deadline - time.monotonic()))))
            except Exception:  # queue.Empty
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n - len(out)} load processes gave no result in {timeout} s") from None
                dead = [p for p in self.procs if p.exitcode is not None and p.exitcode != 0]
                if dead:
                    raise RuntimeError(f"load process exited with {dead[0].exitcode}") from None
        errors = [r["error"] for r in out if r.get("error")]
        if errors:
            raise RuntimeError("load process failed: " + errors[0])
        return out

    def close(self) -> None:
        for p in self.procs:
            p.join(timeout=5)
        for p in self.procs:
            if p.is_alive():
                p.terminate()
                p.join(timeout=3)
            if p.is_alive():
                p.kill()
                p.join(timeout=3)
        for q in (self.ready, self.results):
            q.close()
            q.cancel_join_thread()


def _publish_stats(results: list[dict[str, Any]], rpm: int) -> dict[str, Any]:
    pubs = [r for r in results if r["role"] == "publisher"]
    first = min(r["first_publish"] for r in pubs if r["first_publish"] is not None)
    last_ack = max((r["last_ack"] for r in pubs if r["last_ack"] is not None), default=first)
    published = sum(r["published"] for r in pubs)
    return {
        "published": published,
        "acked": sum(r["acked"] for r in pubs),
        "first_publish": first,
        "last_ack": last_ack,
        "publish_readings_per_s": published * rpm / (last_ack - first) if last_ack > first else None,
        "load_cpu_s": sum(r.get("cpu_s", 0.0) for r in pubs),
    }


def ceiling_run(a: argparse.Namespace, broker: Mosquitto) -> dict[str, Any]:
    log(f"ceiling run: bare subscriber, {a.messages} messages x {a.readings_per_message} readings")
    load = LoadGenerator(a, broker.port)
    try:
        load.spawn(
            subscriber_main,
            SubscriberSpec(
                host="127.0.0.1",
                port=broker.port,
                topic_filter=f"{PREFIX}/v1/+/telemetry",
                expected=a.messages,
                qos=a.qos,
                receive_maximum=a.receive_maximum,
                run_timeout_s=a.timeout,
            ),
        )
        load.wait_ready(1)
        load.start_publishers()
        load.wait_ready(len(load.specs))
        cpu0, machine0, t_go = _cpu(broker.proc.pid if broker.proc else None), _machine_busy(), time.monotonic()
        load.go.set()
        results = load.collect(1 + len(load.specs), a.timeout + 60)
        cpu1, machine1, window = (
            _cpu(broker.proc.pid if broker.proc else None),
            _machine_busy(),
            time.monotonic() - t_go,
        )
    finally:
        load.close()
    sub = next(r for r in results if r["role"] == "subscriber")
    pub = _publish_stats(results, a.readings_per_message)
    elapsed = sub["last_receive"] - pub["first_publish"]
    msgs_per_s = sub["received"] / elapsed
    out = {
        "received": sub["received"],
        "seconds": elapsed,
        "messages_per_s": msgs_per_s,
        "readings_per_s": msgs_per_s * a.readings_per_message,
        "publish_readings_per_s": pub["publish_readings_per_s"],
        "cpu_cores": _cores(
            {
                "subscriber": sub["cpu_s"],
                "load": pub["load_cpu_s"],
                "mosquitto": cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None,
            },
            window,
            machine0,
            machine1,
        ),
    }
    log(
        f"ceiling: {sub['received']} messages in {elapsed:.2f} s = {msgs_per_s:,.0f} msg/s, "
        f"{out['readings_per_s']:,.0f} readings/s"
    )
    return out


class Hubs:
    """One hub child process, or several sharing the load through an MQTT v5 shared subscription."""

    def __init__(self, a: argparse.Namespace, work: Path, broker: Mosquitto, influx: InfluxDB, db: str) -> None:
        self.children = []
        for i in range(a.hubs):
            folder = work / ("hub" if a.hubs == 1 else f"hub{i + 1}")
            config: dict[str, Any] = {
                "data_dir": str(folder / "data"),
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": broker.port,
                    "client_id": f"iocgw-bench-hub-{i + 1}",
                    "receive_maximum": a.receive_maximum,
                },
                "influx": {"url": influx.url, "database": db},
                "batch": {"max_lines": a.batch_lines, "max_delay_s": a.batch_delay},
                "registry": {"accept_unknown_nodes": True},
                "http": {"host": "127.0.0.1", "port": free_port()},
            }
            if a.hubs > 1:
                config["mqtt"]["shared_group"] = "bench"
            self.children.append(HubChild(folder, config))

    @property
    def logs(self) -> str:
        return ", ".join(str(c.log_path) for c in self.children)

    @property
    def pids(self) -> list[int | None]:
        return [c.pid for c in self.children]

    def start(self) -> None:
        for c in self.children:
            c.start()

    def stop(self) -> None:
        for c in self.children:
            try:
                c.stop()
            except Exception as exc:
                log(f"stopping a hub failed: {exc!r}")

    def metrics(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for c in self.children:
            for k, v in c.metrics().items():
                total[k] = total.get(k, 0.0) + v
        return total

    def cpu(self) -> float | None:
        values = [_cpu(p) for p in self.pids]
        return None if any(v is None for v in values) else sum(v for v in values if v is not None)

    def peak_rss_mb(self) -> float | None:
        """Sum over the hub processes of each one's peak resident set (VmHWM)."""
        stats = [_proc_stat(p) for p in self.pids]
        return None if any(s is None for s in stats) else sum(s[1] for s in stats if s is not None)


class StoredCount:
    """``SELECT count(value)`` over the load's measurements and nodes, polled every COUNT_POLL_S."""

    def __init__(self, influx: InfluxDB, db: str, rpm: int, node_prefix: str) -> None:
        self.influx = Influx(influx.url, db)
        names = ",".join(f'"{m}"' for m in measurements(rpm))
        self.q = f'SELECT count("value") FROM {names} WHERE "node_id" =~ /^{node_prefix}/'

    def __call__(self) -> int:
        return sum(int(r["count"]) for r in self.influx.query(self.q))

    def wait_for(self, total: int, deadline: float, what: str) -> tuple[int, float | None]:
        """Poll until the count reaches ``total`` (time it did) or the deadline (None)."""
        n, last_log, t0 = 0, time.monotonic(), time.monotonic()
        while time.monotonic() < deadline:
            n = self()
            now = time.monotonic()
            if n >= total:
                return n, now
            if now - last_log >= 5:
                log(f"{what}: {n}/{total} readings stored after {now - t0:.1f} s")
                last_log = now
            time.sleep(COUNT_POLL_S)
        return n, None

    def settle(self, n: int, reached: bool) -> tuple[int, float]:
        """Poll until the count has not changed for 1 s (5 s when short); (count, time of its last change)."""
        quiet_needed = 1.0 if reached else 5.0
        last_change = time.monotonic()
        deadline = last_change + 60
        while time.monotonic() < deadline:
            time.sleep(COUNT_POLL_S)
            m = self()
            if m != n:
                n, last_change = m, time.monotonic()
            elif time.monotonic() - last_change >= quiet_needed:
                break
        return n, last_change

    def close(self) -> None:
        self.influx.close()


def hub_run(a: argparse.Namespace, work: Path, broker: Mosquitto, influx: InfluxDB) -> dict[str, Any]:
    total = a.messages * a.readings_per_message
    db = f"bench_{time.strftime('%Y%m%d_%H%M%S')}"
    hubs = Hubs(a, work, broker, influx, db)
    counter = StoredCount(influx, db, a.readings_per_message, NODE_PREFIX)
    probe = Probe("127.0.0.1", broker.port, influx.url, db)
    load = LoadGenerator(a, broker.port)
    spy: subprocess.Popen[bytes] | None = None
    probe_thread: threading.Thread | None = None
    backlog: dict[str, Any] | None = None
    try:
        log(f"hub run: starting {a.hubs} hub process(es) (log {hubs.logs})")
        hubs.start()
        probe.connect()
        # One probe end to end first: the hub is subscribed and the database exists before the load starts.
        if not probe.run(1, 0.0, give_up_s=30):
            raise RuntimeError(f"the warm-up probe never reached InfluxDB; see {hubs.logs}")
        probe.latencies_ms.clear()
        probe.missing = 0
        load.start_publishers()
        load.wait_ready(len(load.specs))
        if a.profile_hub:
            spy = _start_py_spy(a.profile_hub, hubs.pids[0], a.profile_gil)
        pids = {"mosquitto": broker.proc and broker.proc.pid, "influxd": influx.proc and influx.proc.pid}
        cpu0 = {"hub": hubs.cpu(), **{k: _cpu(p) for k, p in pids.items()}}
        bench_cpu0, machine0 = time.process_time(), _machine_busy()
        log(f"hub run: publishing {a.messages} messages ({total} readings) from {a.nodes} nodes")
        t_go = time.monotonic()
        load.go.set()
        probe_thread = threading.Thread(target=probe.run, args=(a.probes, a.probe_interval), daemon=True)
        probe_thread.start()

        n, t_done = counter.wait_for(total, t_go + a.timeout, "hub run")
        cpu1 = {"hub": hubs.cpu(), **{k: _cpu(p) for k, p in pids.items()}}
        cpu_window = time.monotonic() - t_go
        bench_cpu, machine1 = time.process_time() - bench_cpu0, _machine_busy()
        if spy is not None:
            _stop_py_spy(spy)
            spy = None
        # Loss is declared only once the count has stopped changing.
        n, last_change = counter.settle(n, t_done is not None)
        t_end = t_done if t_done is not None else last_change
        probe_thread.join(timeout=90)
        results = load.collect(len(load.specs), 60)
        pub = _publish_stats(results, a.readings_per_message)
        busy = probe_thread.is_alive()
        idle = probe.run(a.idle_probes, a.probe_interval) if a.idle_probes and not busy else []
        metrics = hubs.metrics()
        rss = hubs.peak_rss_mb()
        if a.backlog and a.hubs == 1:
            backlog = backlog_run(a, hubs, broker, influx, db)
    finally:
        if spy is not None:
            _stop_py_spy(spy)
        if probe_thread is not None and probe_thread.is_alive():
            probe_thread.join(timeout=5)
        probe.close()
        counter.close()
        load.close()
        hubs.stop()
    elapsed = t_end - pub["first_publish"]
    readings_per_s = n / elapsed
    lost = total - n
    lat = probe.latencies_ms
    cpu_s = _cpu_delta(cpu0, cpu1)
    out = {
        "stored": n,
        "lost": lost,
        "seconds": elapsed,
        "readings_per_s": readings_per_s,
        "messages_per_s": readings_per_s / a.readings_per_message,
        "publish_readings_per_s": pub["publish_readings_per_s"],
        "latency_p50_ms": percentile(lat, 50),
        "latency_p99_ms": percentile(lat, 99),
        "latency_max_ms": max(lat) if lat else None,
        "latency_idle_p50_ms": percentile(idle, 50),
        "latency_idle_p99_ms": percentile(idle, 99),
        "probes": len(lat) + len(idle),
        "probes_missing": probe.missing,
        "probe_error": probe.error,
        "duplicates": int(metrics.get("duplicates", 0)),
        "dead_letters": int(metrics.get("dead_letters", 0)),
        "influx_errors": int(metrics.get("influx_errors", 0)),
        "batches_flushed": int(metrics.get("batches_flushed", 0)),
        "peak_rss_mb": rss,
        "cpu_cores": _cores({**cpu_s, "load": pub["load_cpu_s"], "bench": bench_cpu}, cpu_window, machine0, machine1),
        "backlog": backlog,
    }
    log(
        f"hub: {n}/{total} readings stored in {elapsed:.2f} s = {readings_per_s:,.0f} readings/s; lost {lost}; "
        f"latency p50 {_r(out['latency_p50_ms'])} ms p99 {_r(out['latency_p99_ms'])} ms"
    )
    return out


def backlog_run(a: argparse.Namespace, hubs: Hubs, broker: Mosquitto, influx: InfluxDB, db: str) -> dict[str, Any]:
    """The hub stopped; the same load queued in the broker for its session; the hub started: its drain rate.

    Nothing else runs while the hub drains, so this is what the hub alone does with the machine (the broker
    and InfluxDB beside it), not sharing the CPU with the load generator.
    """
    total = a.messages * a.readings_per_message
    log("backlog run: hub stopped; publishing the load into the broker's queue for its session")
    hubs.stop()
    load = LoadGenerator(a, broker.port, node_prefix=BACKLOG_PREFIX)
    counter = StoredCount(influx, db, a.readings_per_message, BACKLOG_PREFIX)
    try:
        load.start_publishers()
        load.wait_ready(len(load.specs))
        load.go.set()
        load.collect(len(load.specs), a.timeout + 60)
        t_start = time.monotonic()
        hubs.start()
        t_ready = time.monotonic()
        n0 = counter()
        pids = {"mosquitto": broker.proc and broker.proc.pid, "influxd": influx.proc and influx.proc.pid}
        cpu0, machine0 = {"hub": hubs.cpu(), **{k: _cpu(p) for k, p in pids.items()}}, _machine_busy()
        bench_cpu0 = time.process_time()
        log(f"backlog run: hub up in {t_ready - t_start:.2f} s, draining {total - n0} readings")
        n, t_done = counter.wait_for(total, t_ready + a.timeout, "backlog run")
        cpu1 = {"hub": hubs.cpu(), **{k: _cpu(p) for k, p in pids.items()}, "bench": time.process_time()}
        cpu0["bench"] = bench_cpu0
        machine1, window = _machine_busy(), time.monotonic() - t_ready
        n, last_change = counter.settle(n, t_done is not None)
        t_end = t_done if t_done is not None else last_change
        metrics = hubs.metrics()
        rss = hubs.peak_rss_mb()
    finally:
        counter.close()
        load.close()
    rate = (n - n0) / (t_end - t_ready)
    out = {
        "readings_per_s": rate,
        "seconds": t_end - t_ready,
        "hub_start_s": t_ready - t_start,
        "lost": total - n,
        "duplicates": int(metrics.get("duplicates", 0)),
        "dead_letters": int(metrics.get("dead_letters", 0)),
        "peak_rss_mb": rss,
        "cpu_cores": _cores(_cpu_delta(cpu0, cpu1), window, machine0, machine1),
    }
    log(f"backlog: {n - n0} readings drained in {t_end - t_ready:.2f} s = {rate:,.0f} readings/s; lost {total - n}")
    return out


def _start_py_spy(path: str, pid: int | None, gil: bool = False) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if pid is None or not os.path.exists(exe):
        log("py-spy not found: no profile (pip install py-spy)")
        return None
    fmt = {".svg": "flamegraph", ".txt": "raw", ".json": "speedscope"}.get(Path(path).suffix, "raw")
    cmd = [exe, "record", "--pid", str(pid), "--output", path, "--format", fmt, "--rate", "100", "--threads"]
    if gil:
        cmd.append("--gil")
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(1.0)  # attach before the load starts
    return spy


def _stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    if spy.poll() is None:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait(5)


# -- entry points ---------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict[str, Any]:
    a = _resolve(args)
    temp = a.runtime is None
    root = Path(a.runtime) if a.runtime else Path(tempfile.mkdtemp(prefix="iocgw-bench-"))
    work = root / f"ingest-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    log(f"runtime folder {work}")
    broker = Mosquitto(work / "mosquitto")
    influx = InfluxDB(work / "influxdb")
    ok = False
    try:
        versions = {
            "mosquitto": _version([broker.executable(), "-h"], r"mosquitto version (\S+)", "unknown"),
            "influxdb": _version([influx.executable(), "version"], r"InfluxDB v(\d+\.\d+\.\d+)", "unknown"),
        }
        broker.start()
        influx.start()
        ceiling = None if a.skip_ceiling else ceiling_run(a, broker)
        hub = hub_run(a, work, broker, influx)
        ok = True
    finally:
        influx.stop()
        broker.stop()
        if temp and ok and not a.keep:
            shutil.rmtree(root, ignore_errors=True)
        elif not ok:
            log(f"logs kept in {work}")
    ratio = hub["readings_per_s"] / ceiling["readings_per_s"] if ceiling else None
    backlog = hub["backlog"]
    return {
        "bench": "ingest",
        "nodes": a.nodes,
        "messages": a.messages,
        "readings_per_message": a.readings_per_message,
        "readings": a.messages * a.readings_per_message,
        "publishers": a.publishers,
        "hubs": a.hubs,
        "ceiling_readings_per_s": _r(ceiling["readings_per_s"], 0) if ceiling else None,
        "hub_readings_per_s": _r(hub["readings_per_s"], 0),
        "ratio_to_ceiling": _r(ratio, 3),
        "latency_p50_ms": _r(hub["latency_p50_ms"]),
        "latency_p99_ms": _r(hub["latency_p99_ms"]),
        "latency_idle_p50_ms": _r(hub["latency_idle_p50_ms"]),
        "latency_idle_p99_ms": _r(hub["latency_idle_p99_ms"]),
        "probes": hub["probes"],
        "probes_missing": hub["probes_missing"],
        "lost": hub["lost"],
        "duplicates": hub["duplicates"],
        "dead_letters": hub["dead_letters"],
        "influx_errors": hub["influx_errors"],
        "hub_peak_rss_mb": _r(hub["peak_rss_mb"]),
        "hub_seconds": _r(hub["seconds"], 2),
        "ceiling_seconds": _r(ceiling["seconds"], 2) if ceiling else None,
        "publish_readings_per_s": _r(hub["publish_readings_per_s"], 0),
        "cpu_cores_ceiling": {k: _r(v, 2) for k, v in ceiling["cpu_cores"].items()} if ceiling else None,
        "cpu_cores_hub_run": {k: _r(v, 2) for k, v in hub["cpu_cores"].items()},
        "backlog_readings_per_s": _r(backlog["readings_per_s"], 0) if backlog else None,
        "backlog_lost": backlog["lost"] if backlog else None,
        "backlog_seconds": _r(backlog["seconds"], 2) if backlog else None,
        "cpu_cores_backlog_run": {k: _r(v, 2) for k, v in backlog["cpu_cores"].items()} if backlog else None,
        "cores": os.cpu_count(),
        **versions,
    }


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print one JSON line last on stdout. 0 when nothing was lost, 1 otherwise."""

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwind through every finally: children stopped, folders kept

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        figures = run(args)
        code = 0 if figures["lost"] == 0 and not figures.get("backlog_lost") else 1
    except Exception as exc:
        log(f"failed: {type(exc).__name__}: {exc}")
        figures, code = {"bench": "ingest", "error": f"{type(exc).__name__}: {exc}"}, 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(figures), flush=True)
    return code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return p


if __name__ == "__main__":
    sys.exit(main(_parser().parse_args()))
