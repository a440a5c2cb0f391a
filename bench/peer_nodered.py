"""Peer benchmark: the Node-RED flow a user would assemble instead of iocgw's hub, on the same machine and load."""

# ``python -m bench.peer_nodered [--variant batch|per-message] [--messages N] [--quick]``. Progress goes to
# stderr; the last stdout line is one JSON object of figures. Exit code 0 when the runs completed (readings lost
# by the flow are a result, not a failure), 1 when the benchmark itself failed.
#
# 1. Mosquitto and InfluxDB start as child processes in a runtime folder (testkit.localsvc), as in bench.ingest;
#    the database 'iocgw' is created (the flow's influxdb nodes do not create it).
# 2. Node-RED 4 (bench/nodered: package.json, package-lock.json, flow.json, settings.js; `npm ci` when its
#    node_modules is missing) runs bench/nodered/flow.json, with the measured variant's tab enabled and the
#    broker's and InfluxDB's ports filled in:
#      batch:       mqtt in (QoS 1) -> join (200 messages or 1 s) -> function (readings -> points) -> influxdb batch
#      per-message: mqtt in (QoS 1) -> function (one message per reading) -> influxdb out (one write per reading)
#    Points are what the hub writes: measurement = quantity, tags node_id and sensor_id, fields value, quality,
#    seq, time = the reading's ts in ms.
# 3. A probe message is published until it is queryable in InfluxDB: Node-RED has subscribed.
# 4. Clean run: bench.ingest's load (bench._loadgen) is published; the InfluxDB count is polled until it reaches
#    the total or stops changing (then the rest is lost); readings/s end to end, Node-RED's peak RSS, CPU cores.
# 5. Outage run (unless --no-outage): the same load from fresh node ids, InfluxDB killed (SIGKILL) for 3 s once
#    half of it is stored (or half the clean run's time has passed) and started again on the same data.

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench._count import COUNT_POLL_S, StoredCount
from bench._cpu import CpuSnapshot, cores, group_peak_rss_mb
from bench._load import NODE_PREFIX, TOPIC_PREFIX, iso_ms
from bench._load import connect as connect_mqtt
from bench._loadgen import LoadGenerator, publish_stats
from bench._report import bench_main, quick_defaults, require_at_least_one, rnd, run_cli, runtime_folder
from hub.store.influx_query import InfluxReader
from testkit.localsvc import InfluxDB, Mosquitto, free_port

NODERED_DIR = Path(__file__).resolve().parent / "nodered"
FLOW_FILE = NODERED_DIR / "flow.json"
SETTINGS_FILE = NODERED_DIR / "settings.js"
USER_DIR = NODERED_DIR / ".node-red"
RED_JS = NODERED_DIR / "node_modules" / "node-red" / "red.js"
CONTRIB = NODERED_DIR / "node_modules" / "node-red-contrib-influxdb"
DATABASE = "iocgw"  # the flow's influxdb config node writes here
TABS = {"batch": "batch", "per-message": "per-message"}  # variant -> label of its tab in flow.json
OUTAGE_PREFIX = "bench-o"  # node ids of the outage run (fresh ids, counted apart from the clean run's)
PROBE_NODE = "probe"


def log(msg: str) -> None:
    print(f"[bench.peer_nodered {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--variant", choices=sorted(TABS), default="batch", help="which flow to measure (default batch)")
    p.add_argument("--nodes", type=int, default=50, help="distinct node ids in the load (default 50)")
    p.add_argument("--messages", type=int, default=None, help="telemetry messages per run (default 60000)")
    p.add_argument("--readings-per-message", type=int, default=5, help="readings per message (default 5)")
    p.add_argument("--publishers", type=int, default=2, help="load-generator processes (default 2)")
    p.add_argument("--clients-per-publisher", type=int, default=2, help="paho clients per publisher (default 2)")
    p.add_argument("--quick", action="store_true", help="small smoke-test run (2000 messages)")
    p.add_argument("--outage-s", type=float, default=3.0, help="seconds InfluxDB stays down in the outage run")
    p.add_argument("--no-outage", dest="outage", action="store_false", help="skip the InfluxDB-outage run")
    # Longer than the influx client's 30 s request timeout, after which it retries a write (twice at most).
    p.add_argument("--stall-s", type=float, default=35.0, help="count unchanged this long: the rest is lost (35)")
    p.add_argument("--timeout", type=float, default=600.0, help="longest wait for each run, s (default 600)")
    p.add_argument("--runtime", default=None, help="folder for broker, InfluxDB and Node-RED data (default: temp)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")


def _resolve(args: argparse.Namespace) -> argparse.Namespace:
    a = quick_defaults(args, messages=(2000, 60_000))
    require_at_least_one(a, "nodes", "messages", "readings_per_message", "publishers", "clients_per_publisher")
    if a.messages < a.nodes:
        raise ValueError("--messages must be at least --nodes")
    a.qos = 1  # bench._loadgen reads these two
    return a


# --- Node-RED -------------------------------------------------------------------------------------------------


def ensure_installed() -> None:
    """``npm ci`` in bench/nodered when its node_modules lacks Node-RED or the InfluxDB nodes (output on stderr)."""
    if RED_JS.exists() and (CONTRIB / "influxdb.js").exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise RuntimeError("Node.js and npm are needed (Node-RED 4 runs on Node 18 or later)")
    log(f"installing Node-RED into {NODERED_DIR / 'node_modules'} (npm ci)")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=NODERED_DIR, stdout=sys.stderr, stderr=sys.stderr, check=True
    )


def _package_version(path: Path) -> str:
    try:
        return str(json.loads((path / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def write_flow(variant: str, mqtt_port: int, influx_port: int, dest: Path) -> None:
    """flow.json with only the variant's tab enabled and the services' ports filled in."""
    flow = json.loads(FLOW_FILE.read_text())
    tabs = {n["id"]: n for n in flow if n.get("type") == "tab"}
    wanted = [i for i, t in tabs.items() if t.get("label") == TABS[variant]]
    if len(wanted) != 1:
        raise RuntimeError(f"{FLOW_FILE} has no single tab labelled {TABS[variant]!r}")
    for i, tab in tabs.items():
        tab["disabled"] = i != wanted[0]
    for n in flow:
        if n.get("type") == "mqtt-broker":
            n["broker"], n["port"] = "127.0.0.1", str(mqtt_port)
        elif n.get("type") == "influxdb":
            n["hostname"], n["port"], n["database"] = "127.0.0.1", str(influx_port), DATABASE
    dest.write_text(json.dumps(flow, indent=4) + "\n")


class NodeRed:
    """``node red.js`` as a child process (its own session) running one flow file; console output to a log."""

    def __init__(self, work: Path, flow: Path) -> None:
        self.flow = flow
        self.log_path = work / "node-red.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        USER_DIR.mkdir(parents=True, exist_ok=True)
        cmd = [
            shutil.which("node") or "node",
            str(RED_JS),
            "--settings",
            str(SETTINGS_FILE),
            "--userDir",
            str(USER_DIR),
            "--port",
            str(self.port),
            str(self.flow),
        ]
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def error_lines(self) -> int:
        """Lines Node-RED logged at level error so far (each failed InfluxDB write logs one)."""
        try:
            with open(self.log_path, "rb") as f:
                return sum(1 for line in f if b"[error]" in line)
        except OSError:
            return 0

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


# --- InfluxDB and the probe -----------------------------------------------------------------------------------


def create_database(influx: InfluxDB) -> None:
    body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{DATABASE}"'}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{influx.url}/query", data=body), timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"CREATE DATABASE failed: HTTP {resp.status}")


def wait_subscribed(mqtt_port: int, influx: InfluxDB, nodered: NodeRed, give_up_s: float = 90.0) -> float:
    """Publish a one-reading probe every 2 s until one is queryable in InfluxDB; seconds it took."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{time.time_ns()}", protocol=MQTTProtocolVersion.MQTTv5
    )
    reader = InfluxReader(influx.url, DATABASE)
    t0 = time.monotonic()
    try:
        connect_mqtt(client, "127.0.0.1", mqtt_port, 30)
        seq, next_send = 0, t0
        while time.monotonic() - t0 < give_up_s:
            if not nodered.alive():
                raise RuntimeError(
                    f"Node-RED exited with {nodered.proc.returncode if nodered.proc else '?'}:\n" + nodered.log_tail()
                )
            if time.monotonic() >= next_send:
                seq += 1
                ts = iso_ms(int(time.time() * 1000))
                payload = (
                    f'{{"v":1,"channel":"telemetry","node_id":"{PROBE_NODE}","seq":{seq},"ts":"{ts}","readings":'
                    f'[{{"sensor_id":"p0","quantity":"water_level","value":{float(seq)},"unit":"m","ts":"{ts}"}}]}}'
                )
                client.publish(f"{TOPIC_PREFIX}/v1/{PROBE_NODE}/telemetry", payload.encode(), qos=1)
                next_send += 2.0
            with contextlib.suppress(OSError, RuntimeError):
                if reader.count("water_level", f"WHERE \"node_id\" = '{PROBE_NODE}'") > 0:
                    return time.monotonic() - t0
            time.sleep(0.1)
        raise TimeoutError(f"no probe reached InfluxDB through Node-RED in {give_up_s} s; see {nodered.log_path}")
    finally:
        with contextlib.suppress(Exception):
            client.disconnect()
            client.loop_stop()
        reader.close()


def field_types(influx: InfluxDB) -> dict[str, str]:
    """The field types the flow wrote (the hub writes value float, quality string, seq integer)."""
    reader = InfluxReader(influx.url, DATABASE)
    try:
        rows = reader.query('SHOW FIELD KEYS FROM "water_level"')
    except (OSError, RuntimeError):
        return {}
    finally:
        reader.close()
    return {str(r["fieldKey"]): str(r["fieldType"]) for r in rows}


# --- one measured run -----------------------------------------------------------------------------------------


def _count(counter: StoredCount, last: int) -> int:
    try:
        return counter()
    except (OSError, RuntimeError):
        return last  # InfluxDB down or restarting


def measured_run(
    a: argparse.Namespace,
    broker: Mosquitto,
    influx: InfluxDB,
    nodered: NodeRed,
    prefix: str,
    outage_after_s: float | None = None,
) -> dict[str, Any]:
    """Publish the load; poll the count until the total, a stall or the deadline. With ``outage_after_s``,
    InfluxDB is killed for a.outage_s once half the load is stored or that many seconds have passed."""
    what = "outage run" if outage_after_s is not None else "clean run"
    total = a.messages * a.readings_per_message
    load = LoadGenerator(a, broker.port, node_prefix=prefix)
    counter = StoredCount(influx.url, DATABASE, a.readings_per_message, prefix)
    errors0 = nodered.error_lines()
    outage: dict[str, Any] | None = None
    try:
        load.start_publishers()
        load.wait_ready(len(load.specs))
        groups = {
            "node_red": [nodered.pid],
            "mosquitto": [broker.proc.pid if broker.proc else None],
            "influxd": [influx.proc.pid if influx.proc else None],
        }
        cpu0 = CpuSnapshot.take(groups)
        log(f"{what}: publishing {a.messages} messages ({total} readings) from {a.nodes} nodes")
        t_go = time.monotonic()
        load.go.set()
        deadline = t_go + a.timeout
        n, t_done = 0, None
        last_change, last_log = t_go, t_go
        while True:
            time.sleep(COUNT_POLL_S)
            now = time.monotonic()
            m = _count(counter, n)
            if m != n:
                n, last_change = m, now
            if n >= total:
                t_done = now
                break
            if outage_after_s is not None and outage is None and (n >= total // 2 or now - t_go >= outage_after_s):
                log(f"{what}: {n}/{total} stored after {now - t_go:.1f} s; killing InfluxDB for {a.outage_s} s")
                t_kill = time.monotonic()
                influx.kill()
                time.sleep(a.outage_s)
                influx.start()
                t_up = time.monotonic()
                outage = {"at_s": t_kill - t_go, "stored_before": n, "down_s": t_up - t_kill}
                log(f"{what}: InfluxDB back after {t_up - t_kill:.1f} s")
                last_change = t_up  # the stall clock starts again once InfluxDB is back
                continue
            if not nodered.alive():
                log(f"{what}: Node-RED exited with {nodered.proc.returncode if nodered.proc else '?'}")
                break
            if now - last_change >= a.stall_s:
                log(f"{what}: count unchanged at {n}/{total} for {a.stall_s:.0f} s; the rest counts as lost")
                break
            if now > deadline:
                log(f"{what}: deadline: {n}/{total} stored after {a.timeout:.0f} s")
                break
            if now - last_log >= 5:
                log(f"{what}: {n}/{total} readings stored after {now - t_go:.1f} s")
                last_log = now
        cpu1, window = CpuSnapshot.take(groups), time.monotonic() - t_go
        rss = group_peak_rss_mb([nodered.pid])
        if t_done is not None:
            n, _ = counter.settle(n, True)
        results = load.collect(len(load.specs), 60)
    finally:
        counter.close()
        load.close()
    pub = publish_stats(results, a.readings_per_message)
    t_end = t_done if t_done is not None else last_change
    elapsed = t_end - pub["first_publish"]
    published = pub["acked"] * a.readings_per_message
    cpu_s = {**cpu1.groups_since(cpu0), "load": pub["load_cpu_s"], "bench": cpu1.own_since(cpu0)}
    if outage_after_s is not None and outage is None:
        log(f"{what}: everything was stored before the outage could start; use a larger load")
    out = {
        "published": published,
        "stored": n,
        "lost": published - n,
        "seconds": elapsed,
        "readings_per_s": n / elapsed if elapsed > 0 else None,
        "publish_readings_per_s": pub["publish_readings_per_s"],
        "publish_seconds": pub["last_ack"] - pub["first_publish"],
        "node_red_errors": nodered.error_lines() - errors0,
        "peak_rss_mb": rss,
        # InfluxDB's pid changes in the outage run: its group reads None there.
        "cpu_cores": cores(cpu_s, window, cpu0, cpu1),
        "outage": outage,
    }
    log(
        f"{what}: {n}/{published} readings stored in {elapsed:.2f} s = {out['readings_per_s'] or 0:,.0f} readings/s; "
        f"lost {out['lost']}; {out['node_red_errors']} Node-RED error lines; peak RSS {rnd(rss)} MiB"
    )
    return out


# --- the benchmark --------------------------------------------------------------------------------------------


def _measure(
    a: argparse.Namespace, work: Path
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, str], float | None]:
    """Start the services and Node-RED, do the clean and the outage run, stop everything: the two runs' results,
    the field types the flow wrote and Node-RED's peak RSS after both runs."""
    broker = Mosquitto(work / "mosquitto")
    influx = InfluxDB(work / "influxdb")
    nodered: NodeRed | None = None
    try:
        broker.start()
        influx.start()
        create_database(influx)
        flow = work / "flow.json"
        write_flow(a.variant, broker.port, influx.port, flow)
        nodered = NodeRed(work, flow)
        log(f"starting Node-RED ({a.variant} flow; log {nodered.log_path})")
        nodered.start()
        took = wait_subscribed(broker.port, influx, nodered)
        log(f"Node-RED is subscribed (probe stored {took:.1f} s after start)")
        clean = measured_run(a, broker, influx, nodered, NODE_PREFIX)
        types = field_types(influx)
        outage = None
        if a.outage:
            outage = measured_run(a, broker, influx, nodered, OUTAGE_PREFIX, outage_after_s=clean["seconds"] / 2)
        return clean, outage, types, group_peak_rss_mb([nodered.pid])
    finally:
        if nodered is not None:
            nodered.stop()
        influx.stop()
        broker.stop()


def run(args: argparse.Namespace) -> dict[str, Any]:
    a = _resolve(args)
    ensure_installed()
    with runtime_folder(a, "peer_nodered", stem=f"peer-nodered-{a.variant}", temp_prefix="iocgw-peer-") as folder:
        clean, outage, types, rss_end = _measure(a, folder.work)
    return {
        "bench": "peer_nodered",
        "variant": a.variant,
        "nodes": a.nodes,
        "messages": a.messages,
        "readings_per_message": a.readings_per_message,
        "readings": a.messages * a.readings_per_message,
        "publishers": a.publishers,
        "readings_per_s": rnd(clean["readings_per_s"], 0),
        "seconds": rnd(clean["seconds"], 2),
        "stored": clean["stored"],
        "lost": clean["lost"],
        "node_red_errors": clean["node_red_errors"],
        "publish_readings_per_s": rnd(clean["publish_readings_per_s"], 0),
        "publish_seconds": rnd(clean["publish_seconds"], 2),
        # None when the load was all stored before the outage could start (too small a load).
        "lost_with_3s_influx_outage": outage["lost"] if outage and outage["outage"] else None,
        "outage_s": a.outage_s if outage else None,
        "outage_readings_per_s": rnd(outage["readings_per_s"], 0) if outage else None,
        "outage_node_red_errors": outage["node_red_errors"] if outage else None,
        "outage_at_s": rnd(outage["outage"]["at_s"], 2) if outage and outage["outage"] else None,
        # Killed, the 3 s pause, then started again until it answers /ping: how long writes could not succeed.
        "outage_down_s": rnd(outage["outage"]["down_s"], 2) if outage and outage["outage"] else None,
        "outage_stored_before": outage["outage"]["stored_before"] if outage and outage["outage"] else None,
        "outage_publish_seconds": rnd(outage["publish_seconds"], 2) if outage else None,
        "peak_rss_mb": rnd(clean["peak_rss_mb"]),
        "peak_rss_mb_after_outage_run": rnd(rss_end),
        "cpu_cores": {k: rnd(v, 2) for k, v in clean["cpu_cores"].items()},
        "field_types": types,
        "cores": os.cpu_count(),
        # Node-RED inherits this: past it, its unbounded concurrent writes fail with EMFILE.
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "node": _node_version(),
        "node_red": _package_version(RED_JS.parent),
        "contrib_influxdb": _package_version(CONTRIB),
    }


def _node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(args: argparse.Namespace) -> int:
    """Run the benchmark; print one JSON line last on stdout. 0 when it completed (loss is a result here)."""
    return bench_main("peer_nodered", run, args, error_fields={"variant": args.variant})


if __name__ == "__main__":
    sys.exit(run_cli("peer_nodered", __doc__, add_arguments, main))
