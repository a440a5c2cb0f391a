"""Hostile-node soak: a long seeded run of simulators/hostile.py's traffic into a real hub.

``iocgw bench hostile`` or ``python -m bench.hostile``. Mosquitto, InfluxDB and the hub start as child processes;
one publisher sends the plan (good nodes' hydrographs, a hostile node's every class of bad message, schema fuzz,
replays) in order. The last stdout line is one JSON object: messages tried per kind, dead-lettered, stored,
good readings lost, readings written twice, and alarm transitions that differ from what the good readings alone
make. Exit code 0 when nothing was lost, nothing written twice and no alarm changed because of bad input.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from bench._report import bench_main, run_cli, runtime_folder
from hub.store.influx_query import query
from simulators.hostile import Planned, plan, stations
from testkit.hubproc import HubProcess
from testkit.localsvc import InfluxDB, Mosquitto


def log(msg: str) -> None:
    print(f"[bench.hostile {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=1, help="plan seed (default 1)")
    p.add_argument("--rounds", type=int, default=300, help="rounds of good and bad traffic (default 300)")
    p.add_argument("--good-nodes", type=int, default=5, help="well-behaved nodes beside the hostile one (default 5)")
    p.add_argument("--timeout", type=float, default=300.0, help="longest wait for the hub to drain, s (default 300)")
    p.add_argument("--runtime", default=None, help="folder for broker, InfluxDB and hub data (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp runtime folder")


def expected_alarms(planned: list[Planned], nodes: list[str]) -> dict[str, list[tuple[str, int | None]]]:
    """Flood alarm transitions per station from the good readings alone, by the hub's own engine in-process."""
    from hub.alerts.alarm import Transition
    from hub.alerts.config import AlertsConfig, RuleTables
    from hub.alerts.engine import AlertEngine
    from hub.alerts.evaluate.base import Observation
    from hub.alerts.rules.flood_levels import FloodStationTable
    from hub.alerts.store import AlertStore

    sink: list[Any] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = AlertEngine(
            AlertsConfig.model_validate({"freshness": {"enabled": False}}),
            RuleTables(flood=FloodStationTable(stations=stations(nodes))),  # type: ignore[arg-type]
            AlertStore(Path(tmp) / "alerts.db"),
            areas={},
            intervals={},
            notify=sink.extend,
            notify_on=set(Transition),
        )
        for p in planned:
            for node, sensor, value, ts in p.good_readings:
                if sensor == "stage":
                    t = datetime.fromisoformat(ts)
                    engine.process([Observation(node, sensor, "water_level", t, value)], now=t)
        engine.store.close()
    out: dict[str, list[tuple[str, int | None]]] = {}
    for _, alarm, transition in sink:
        out.setdefault(alarm.subject, []).append((transition.value, alarm.level))
    return out


def _ms(t: str | int) -> int:
    """Milliseconds since the epoch, from InfluxDB's answer (already a number) or an ISO string."""
    if isinstance(t, int):
        return t
    return round(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def measure(a: argparse.Namespace, work: Path) -> dict[str, Any]:
    planned, nodes = plan(a.seed, good_nodes=a.good_nodes, rounds=a.rounds)
    kinds = collections.Counter(p.kind for p in planned)
    classes = collections.Counter(p.cls for p in planned if p.kind == "bad")
    good = [r for p in planned for r in p.good_readings]
    log(f"plan: {len(planned)} messages ({dict(kinds)}), {len(good)} good readings, {len(classes)} bad classes")
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    hub: HubProcess | None = None
    try:
        broker.start()
        influx.start()
        table = work / "flood.yaml"
        table.write_text(yaml.safe_dump({"stations": stations(nodes)}, allow_unicode=True), encoding="utf-8")
        hub = HubProcess(
            work / "hub",
            {
                "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "iocgw-bench-hostile-hub"},
                "influx": {"url": influx.url, "database": "bench_hostile"},
                "registry": {"accept_unknown_nodes": True},
                "http": {"host": "127.0.0.1"},
                "alerts": {"flood_stations": str(table), "freshness": {"enabled": False}},
            },
        )
        hub.start()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-hostile")
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        t0 = time.monotonic()
        try:
            for i, p in enumerate(planned, 1):
                info = client.publish(p.topic, p.payload, qos=1)
                if i % 1000 == 0:
                    info.wait_for_publish(60)
                    log(f"  {i}/{len(planned)} published")
            client.publish(p.topic, b"", qos=1).wait_for_publish(60)  # one more bad message closes the run
        finally:
            client.loop_stop()
            client.disconnect()
        published_s = time.monotonic() - t0
        bad = kinds["bad"] + 1
        deadline = time.monotonic() + a.timeout
        m = hub.metrics()
        while (m["dead_letters"] < bad or m["readings_received"] < len(good)) and time.monotonic() < deadline:
            time.sleep(0.5)
            m = hub.metrics()
        drained_s = time.monotonic() - t0
        stored: collections.Counter[tuple[str, str, str]] = collections.Counter()
        for measurement in ("water_level", "temperature"):
            for r in query(influx.url, "bench_hostile", f'SELECT "value", node_id FROM "{measurement}"'):
                stored[(r["node_id"], measurement, _ms(r["time"]))] += 1
        wanted = collections.Counter(
            (n, "water_level" if s == "stage" else "temperature", _ms(ts)) for n, s, _, ts in good
        )
        lost = sum((wanted - stored).values())
        extra = sum((stored - wanted).values())
        got: dict[str, list[tuple[str, int | None]]] = {}
        rows = query(influx.url, "bench_hostile", "SELECT transition, level, subject FROM alarm")
        for r in rows:
            got.setdefault(r["subject"], []).append((r["transition"], r["level"]))
        want = expected_alarms(planned, nodes)
        alarm_diff = sum(
            abs(len(got.get(k, [])) - len(want.get(k, [])))
            + sum(x != y for x, y in zip(got.get(k, []), want.get(k, []), strict=False))
            for k in set(got) | set(want)
        )
    finally:
        if hub is not None:
            hub.kill()
        influx.kill()
        broker.kill()
    return {
        "bench": "hostile",
        "seed": a.seed,
        "messages_tried": len(planned) + 1,
        "good_messages": kinds["good"],
        "bad_messages": bad,
        "replayed_messages": kinds["duplicate"],
        "bad_classes": len(classes),
        "dead_lettered": int(m["dead_letters"]),
        "duplicates_counted": int(m["duplicates"]),
        "good_readings": len(good),
        "readings_stored": sum(stored.values()),
        "good_readings_lost": lost,
        "readings_not_planned_stored": extra,
        "alarm_transitions": sum(len(v) for v in want.values()),
        "alarm_changes_from_bad_input": alarm_diff,
        "publish_s": round(published_s, 1),
        "drained_s": round(drained_s, 1),
        "messages_per_s": round((len(planned) + 1) / drained_s, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    with runtime_folder(args, "hostile") as folder:
        result = measure(args, folder.work)
        folder.failed = not _succeeded(result)
        return result


def _succeeded(r: dict[str, Any]) -> bool:
    return (
        r["good_readings_lost"] == 0
        and r["readings_not_planned_stored"] == 0
        and r["alarm_changes_from_bad_input"] == 0
        and r["dead_lettered"] == r["bad_messages"]
        and r["duplicates_counted"] == r["replayed_messages"]
    )


def main(args: argparse.Namespace) -> int:
    """Run the soak; one JSON line last on stdout; 0 when nothing was lost, doubled or changed by bad input."""
    return bench_main("hostile", run, args, _succeeded)


if __name__ == "__main__":
    sys.exit(run_cli("hostile", __doc__, add_arguments, main))
