"""Public warnings by SMS through a real Kannel: BĐ3 crossing -> SMS at the fake SMSC, and a commune's fan-out across
a hub SIGKILL. ``iocgw bench warnings`` or ``python -m bench.warnings``; progress on stderr, one JSON line last.

1. Mosquitto, InfluxDB and Kannel (bearerbox, smsbox, fakesmsc: testkit/kannel.py) start in a runtime folder; the
   hub (``python -m iocgw hub run``) with two flood stations, each on its own probe node in its own commune, a
   recipient list, an ``sms_kannel`` channel whose delivery reports come back to the hub, and a policy that sends a
   BĐ3 warning to the commune's residents at once.
2. Latency: the first station's stage goes above BĐ3 and back below BĐ1, ``--crossings`` times; each crossing
   opens a new alarm, whose SMS to the commune's one resident is timed from the publish to the moment the fake
   SMSC logs it (one clock: both in this process).
3. Fan-out: the second station crosses BĐ3 once; its commune has ``--subscribers`` residents; the hub is killed
   with SIGKILL when ``--kill-at`` of them have their SMS, restarted, and the run waits for every SMS. Figures:
   subscribers reached, missing, duplicated (two SMS to one number for this one warning), the rate against the
   configured limit, and what the hub recovered.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bench._alerts_load import EdgePublisher
from bench._report import bench_main, percentile, rnd, run_cli, runtime_folder
from testkit.hubproc import HubProcess
from testkit.kannel import Kannel
from testkit.localsvc import InfluxDB, Mosquitto, free_port

PROBE, FAN = "bench-warn-probe", "bench-warn-fan"
COMMUNE_PROBE, COMMUNE_FAN = "00004", "00008"  # two communes of the shipped (Hà Nội) sample
BD = (5.0, 6.0, 7.0)
HIGH, LOW = 7.5, 4.5  # above BĐ3 from below BĐ1 (out of the hysteresis band)
PASSWORD_ENV, DLR_ENV = "IOCGW_BENCH_KANNEL_PASSWORD", "IOCGW_BENCH_DLR_TOKEN"
RECONCILE_S = 30


def log(msg: str) -> None:
    print(f"[bench.warnings {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--crossings", type=int, default=30, help="BĐ3 crossings timed (default 30)")
    p.add_argument("--subscribers", type=int, default=10_000, help="residents of the fan-out commune (10,000)")
    p.add_argument("--rate", type=float, default=200.0, help="the SMS channel's rate limit, messages/s (200)")
    p.add_argument("--kill-at", type=float, default=0.4, help="share of the fan-out received when the hub is killed")
    p.add_argument("--no-kill", action="store_true", help="fan-out without killing the hub")
    p.add_argument("--timeout", type=float, default=600.0, help="longest wait for the fan-out, s (default 600)")
    p.add_argument("--quick", action="store_true", help="5 crossings, 500 subscribers")
    p.add_argument("--runtime", default=None, help="folder for the services and the hub (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")


def _phone(k: int) -> str:
    return f"+8490{k:07d}"


def write_inputs(work: Path, subscribers: int) -> dict[str, Path]:
    table = work / "flood_stations.yaml"
    stations = [
        {"station_id": f"st-{node}", "node_id": node, "sensor_id": "stage", "river": "Bench", "name": node,
         "province": "Hà Nội", "bd1_m": BD[0], "bd2_m": BD[1], "bd3_m": BD[2], "source": "bench (synthetic)"}
        for node in (PROBE, FAN)
    ]  # fmt: skip
    table.write_text(yaml.safe_dump({"stations": stations}, allow_unicode=True), encoding="utf-8")
    # The probes step metres in seconds, which quality control rightly takes for a fault: off for them only.
    quality = work / "quality.yaml"
    overrides = [{"node_id": n, "sensor_id": "stage", "rate_of_change": None, "spike": None} for n in (PROBE, FAN)]
    quality.write_text(yaml.safe_dump({"stations": overrides}), encoding="utf-8")
    seeds = work / "nodes"
    seeds.mkdir(exist_ok=True)
    for node, code in ((PROBE, COMMUNE_PROBE), (FAN, COMMUNE_FAN)):
        doc = {"node_id": node, "site": {"name": node, "admin_code": code}}
        (seeds / f"{node}.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    recipients = work / "recipients.csv"
    rows = ["id,role,admin_code,phone", f"probe-1,resident,{COMMUNE_PROBE},{_phone(0)}"]
    rows += [f"r{k},resident,{COMMUNE_FAN},{_phone(k)}" for k in range(1, subscribers + 1)]
    recipients.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"table": table, "quality": quality, "seeds": seeds, "recipients": recipients}


def hub_config(
    files: dict[str, Path], broker: Mosquitto, influx: InfluxDB, kannel: Kannel, port: int, rate: float
) -> dict[str, Any]:
    return {
        "quality": {"file": str(files["quality"])},
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "iocgw-bench-warnings-hub"},
        "influx": {"url": influx.url, "database": "bench_warnings"},
        "registry": {"accept_unknown_nodes": True, "seed_files": [str(files["seeds"] / "*.yaml")]},
        "http": {"host": "127.0.0.1", "port": port},
        "alerts": {"flood_stations": str(files["table"]), "freshness": {"enabled": False}},
        "warnings": {
            "recipients": str(files["recipients"]),
            "dlr_token": {"env": DLR_ENV},
            "reconcile_s": RECONCILE_S,
            "retry_initial_s": 0.5,
            "channels": [
                {
                    "name": "sms",
                    "type": "sms_kannel",
                    "sendsms_url": kannel.sendsms_url,
                    "username": kannel.username,
                    "password": {"env": PASSWORD_ENV},
                    "from": "IOC-HANOI",
                    "dlr_url": f"http://127.0.0.1:{port}/api/warnings/dlr/kannel?key={{key}}&id={{id}}&type=%d",
                    "dlr_key": {"env": DLR_ENV},
                    "rate_limit_per_s": rate,
                }
            ],
            "policies": [
                {
                    "name": "bd3-residents",
                    "rules": ["flood_level"],
                    "min_level": 3,
                    "roles": ["resident"],
                    "channels": ["sms"],
                    "approval": "auto",
                    "transitions": ["created"],
                }
            ],
        },
    }


def _to(kannel: Kannel, number: str, since: int) -> int | None:
    """Index of the first SMS to ``number`` after the first ``since`` received; None if none yet."""
    want = number.lstrip("+")
    for i, sms in enumerate(kannel.received()[since:], start=since):
        if sms.receiver.lstrip("+") == want:
            return i
    return None


def _warn_metrics(hub: HubProcess) -> dict[str, float]:
    """The hub's public-warning counters and message states (labelled lines, which HubProcess.metrics skips)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{hub.http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {
        name: float(value)
        for line in text.splitlines()
        if line.startswith("iocgw_warn")
        for name, value in [line.rsplit(" ", 1)]
    }


def _latency(a: argparse.Namespace, probe: EdgePublisher, kannel: Kannel, hub: HubProcess) -> list[float]:
    out = []
    for k in range(a.crossings):
        seen = len(kannel.received())
        _, sent = probe.publish(HIGH)
        deadline = time.monotonic() + 30
        while _to(kannel, _phone(0), seen) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"crossing {k + 1}: no SMS in 30 s; see {hub.log}")
            time.sleep(0.005)
        out.append((time.time() - sent) * 1000)
        probe.publish(LOW)  # clears the alarm (no SMS: the policy sends creations only)
        time.sleep(0.3)  # lets the clear reach the engine before the next crossing opens a new alarm
    return out


def _fan_out(a: argparse.Namespace, fan: EdgePublisher, kannel: Kannel, hub: HubProcess, n: int) -> dict[str, Any]:
    base = len(kannel.received())
    started = time.monotonic()
    fan.publish(HIGH)
    killed_at = None
    recovered: dict[str, float] = {}
    deadline = started + a.timeout
    while True:
        got = sum(1 for s in kannel.received()[base:] if s.concat is None or s.concat[2] == 1)
        if not a.no_kill and killed_at is None and got >= a.kill_at * n:
            hub.kill()
            killed_at = got
            log(f"hub killed (SIGKILL) with {got:,} of {n:,} SMS at the fake SMSC; restarting")
            hub.start()
            recovered = _warn_metrics(hub)
        if got >= n:
            break
        if time.monotonic() > deadline:
            log(f"timed out with {got:,} of {n:,}")
            break
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    # A duplicate would come late: a send the kill cut short is resent only if no delivery report settles it within
    # reconcile_s. So the count waits until the hub holds no message still to send or to settle.
    settle = time.monotonic() + RECONCILE_S + 30
    open_states = ("queued", "sending", "unknown")
    while time.monotonic() < settle:
        m = _warn_metrics(hub)
        if not any(m.get(f'iocgw_warn_messages{{state="{st}"}}', 0) for st in open_states):
            break
        time.sleep(0.2)
    settled = _warn_metrics(hub)
    # One count per message, not per part: a Vietnamese (UCS-2) warning travels as two or three concatenated parts.
    firsts = [s for s in kannel.received()[base:] if s.concat is None or s.concat[2] == 1]
    numbers = Counter(s.receiver.lstrip("+") for s in firsts)
    wanted = {_phone(k).lstrip("+") for k in range(1, n + 1)}
    return {
        "subscribers": n,
        "reached": len(wanted & set(numbers)),
        "missing": len(wanted - set(numbers)),
        "duplicated": sum(1 for num in wanted if numbers.get(num, 0) > 1),
        "strangers": len(set(numbers) - wanted),
        "killed_at": killed_at,
        "seconds": rnd(elapsed, 1),
        "rate_per_s": rnd(n / elapsed, 1) if elapsed > 0 else None,
        "rate_limit_per_s": a.rate,
        "recovered_metrics": recovered,
        "hub_message_states": {
            k.split('"')[1]: int(v) for k, v in settled.items() if k.startswith("iocgw_warn_messages")
        },
    }


def measure(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    if a.quick:
        a.crossings, a.subscribers = 5, 500
    if a.crossings < 1 or a.subscribers < 1 or a.rate <= 0 or not 0 < a.kill_at < 1:
        raise ValueError("need --crossings >= 1, --subscribers >= 1, --rate > 0, 0 < --kill-at < 1")
    os.environ[PASSWORD_ENV] = "kannel-" + secrets.token_hex(8)
    os.environ[DLR_ENV] = secrets.token_hex(16)
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    kannel = Kannel(work / "kannel", password=os.environ[PASSWORD_ENV], max_messages=6)
    hub: HubProcess | None = None
    probes: list[EdgePublisher] = []
    try:
        broker.start()
        influx.start()
        kannel.start()
        port = free_port()
        config = hub_config(write_inputs(work, a.subscribers), broker, influx, kannel, port, a.rate)
        hub = HubProcess(work / "hub", config)
        hub.start()
        log(f"hub up on :{port} (log {hub.log}); Kannel in {kannel.root}; {a.subscribers:,} subscribers")
        probe, fan = (EdgePublisher("127.0.0.1", broker.port, n, "stage") for n in (PROBE, FAN))
        probes = [probe, fan]
        for p in probes:
            p.connect()
            p.publish(LOW)
        lat = _latency(a, probe, kannel, hub)
        log(f"latency: {len(lat)} crossings, p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms")
        fan_out = _fan_out(a, fan, kannel, hub, a.subscribers)
        log(f"fan-out: {fan_out['reached']:,} reached, {fan_out['missing']} missing, {fan_out['duplicated']} doubled")
    finally:
        for p in probes:
            p.close()
        if hub is not None:
            hub.stop()
        kannel.stop()
        influx.stop()
        broker.stop()
    return {
        "bench": "warnings",
        "crossings": len(lat),
        "sms_latency_p50_ms": rnd(percentile(lat, 50)),
        "sms_latency_p99_ms": rnd(percentile(lat, 99)),
        "sms_latency_max_ms": rnd(max(lat)),
        "fan_out": fan_out,
        "targets_met": {
            "latency_p99_lt_5s": percentile(lat, 99) < 5000,
            "fan_out_0_lost_0_duplicates": fan_out["missing"] == 0 and fan_out["duplicated"] == 0,
            "within_rate_limit": (fan_out["rate_per_s"] or 0) <= a.rate * 1.05,
        },
        "cores": os.cpu_count(),
    }


def run(a: argparse.Namespace) -> dict[str, Any]:
    with runtime_folder(a, "warnings") as folder:
        result = measure(a, folder.work)
        folder.failed = not _succeeded(result)
        return result


def _succeeded(r: dict[str, Any]) -> bool:
    return all(r["targets_met"].values())


def main(args: argparse.Namespace) -> int:
    return bench_main("warnings", run, args, _succeeded)


if __name__ == "__main__":
    sys.exit(run_cli("warnings", __doc__, add_arguments, main))
