"""Whole scenarios replayed on scenario time through the real path: edge agents -> Mosquitto -> hub process (alert
engine) -> InfluxDB, and a signed webhook receiver for the notifications.

The expected notifications are not written down: they are computed here from the replayed readings with the pure
rule functions (hub.alerts.rules) and the alarm life cycle (hub.alerts.alarm.apply_condition). Only what a
scenario file states as its design is checked against the file (a station "peaks above BĐ3", a reservoir "peaks
below the check flood level").
"""

from __future__ import annotations

import bisect
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.alerts.alarm import NOTIFY_ON, Alarm, Condition, apply_condition
from hub.alerts.notify.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from hub.alerts.rules.base import LOCAL_TZ
from hub.alerts.rules.camera import DEFAULT_CAMERA_TABLE, camera_alert_severity
from hub.alerts.rules.dam_safety import load_reservoirs, reservoir_state
from hub.alerts.rules.flood_levels import FloodStation, flood_level_hysteresis, rate_of_rise_m_per_h
from hub.alerts.rules.heavy_rain import RainBands, heavy_rain_days, heavy_rain_level, load_rain_bands, rolling_sum
from hub.alerts.rules.nesterov import (
    NesterovState,
    fire_danger_level,
    load_nesterov_config,
    reading_at_local_13,
    step,
)
from hub.alerts.rules.risk_level import combine_hazards
from hub.alerts.rules.severity import Severity, severity_for
from simulators.sensors.replay import Replay, ReplayThread, build_replay, load_replay_scenario
from simulators.sensors.scenario import alarm_levels, write_node_configs
from tests.support.influx import query
from tests.support.scenario_time import local_midnight_days_ago
from tests.support.wait import wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "hub" / "alerts" / "sample_rules"
SECRET = "khóa-bí-mật-webhook"
# Scenario t=0 at local midnight (UTC+7), so 13:00 local (06:00 UTC) falls on every 10- and 15-minute sample.
# In the recent past, wherever the suite runs: the hub refuses device times from the future (wire/timepolicy.py).
MIDNIGHT_LOCAL = local_midnight_days_ago(40)
DRY_START = local_midnight_days_ago(20)  # ten gió Lào days, ended ten days ago
DAY = timedelta(days=1)

# The hub's notification severities per level, as the alarms carry them (hub.alerts.evaluate.*).
FLOOD_SEVERITY = {1: Severity.WARNING, 2: Severity.MAJOR, 3: Severity.CRITICAL}
RAIN_SEVERITY = {1: Severity.WARNING, 2: Severity.MINOR, 3: Severity.MAJOR, 4: Severity.CRITICAL, 5: Severity.CRITICAL}
RISK_SEVERITY = {1: Severity.INFO, 2: Severity.WARNING, 3: Severity.MINOR, 4: Severity.MAJOR, 5: Severity.CRITICAL}
FIRE_SEVERITY = {3: Severity.MINOR, 4: Severity.MAJOR, 5: Severity.CRITICAL}


# -- the webhook receiver ---------------------------------------------------------------------------------------
@dataclass
class Delivery:
    delivery_id: str
    received: float  # time.time() at receipt
    payload: dict[str, Any]


@dataclass
class SignedReceiver:
    """A real HTTP server that checks every delivery's HMAC signature and, as docs/notifications.md asks of a
    receiver, keeps each notification once (by X-Iocgw-Delivery), counting repeats."""

    secret: str
    deliveries: list[Delivery] = field(default_factory=list)
    repeats: int = 0
    bad_signatures: int = 0

    def __post_init__(self) -> None:
        outer = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(outer.secret, self.headers.get(TIMESTAMP_HEADER), body, self.headers.get(SIGNATURE_HEADER))
                with lock:
                    if not ok:
                        outer.bad_signatures += 1
                    elif any(d.delivery_id == self.headers[DELIVERY_HEADER] for d in outer.deliveries):
                        outer.repeats += 1
                    else:
                        outer.deliveries.append(Delivery(self.headers[DELIVERY_HEADER], time.time(), json.loads(body)))
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alarms(self, rule: str | None = None) -> list[dict[str, Any]]:
        return [d.payload for d in list(self.deliveries) if rule is None or d.payload["alarm"]["rule"] == rule]

    def transitions(self, rule: str, subject: str) -> list[tuple[str, int | None, str]]:
        return [
            (p["transition"], p["alarm"]["level"], p["alarm"]["severity"])
            for p in self.alarms(rule)
            if p["alarm"]["subject"] == subject
        ]

    def subjects(self, rule: str) -> set[str]:
        return {p["alarm"]["subject"] for p in self.alarms(rule)}


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[SignedReceiver]:
    monkeypatch.setenv("IOCGW_TEST_WEBHOOK_SECRET", SECRET)
    r = SignedReceiver(SECRET)
    yield r
    r.server.shutdown()
    r.server.server_close()


def notify_config(url: str) -> dict[str, Any]:
    return {
        "retry_initial_s": 0.2,
        "rate_limit_per_min": 60_000,  # a replay plays days in seconds: no waiting for tokens
        "rate_limit_burst": 1000,
        "targets": [{"type": "webhook", "name": "ioc", "url": url, "secret": {"env": "IOCGW_TEST_WEBHOOK_SECRET"}}],
        "routes": [{"name": "all", "targets": ["ioc"]}],
    }


# -- expected notifications, from the pure rules ----------------------------------------------------------------
def notifications(conditions: Iterable[tuple[datetime, Condition]]) -> list[tuple[str, int | None, str]]:
    """What one rule subject's findings, in order, make the webhook receive: (transition, level, severity)."""
    alarm: Alarm | None = None
    out = []
    for ts, cond in conditions:
        alarm, transition = apply_condition(alarm, "rule", "subject", cond, ts)
        if transition in NOTIFY_ON and alarm is not None:
            out.append((transition.value, alarm.level, alarm.severity.value))
    return out


def flood_conditions(
    series: list[tuple[datetime, float]], station: FloodStation
) -> Iterator[tuple[datetime, Condition]]:
    level = 0
    for ts, stage in series:
        level = flood_level_hysteresis(stage, station, level)
        sev = FLOOD_SEVERITY.get(level, Severity.INFO)
        yield ts, Condition(active=level >= 1, severity=sev, level=level, value=stage)


def rain_levels(series: list[tuple[datetime, float]], bands: RainBands) -> list[tuple[datetime, int]]:
    """The heavy-rain level after each increment: rolling 12 h / 24 h sums and heavy days (QĐ 18/2021 Điều 44).

    Each sum is taken with ``rolling_sum`` over just the increments that can fall in its window (found by bisect),
    which gives the same sums as over the whole week the hub keeps, in linear rather than quadratic time.
    """
    times = [ts for ts, _ in series]
    out = []
    for i, (end, _) in enumerate(series):

        def window(lo: datetime, hi: datetime, i: int = i) -> list[tuple[datetime, float]]:
            return series[bisect.bisect_right(times, lo, 0, i + 1) : bisect.bisect_right(times, hi, 0, i + 1)]

        acc12 = rolling_sum(window(end - timedelta(hours=12), end), end, timedelta(hours=12))
        acc24 = rolling_sum(window(end - DAY, end), end, DAY)
        days = [rolling_sum(window(end - (k + 1) * DAY, end - k * DAY), end - k * DAY, DAY) for k in range(5, -1, -1)]
        out.append((end, heavy_rain_level(acc12, acc24, heavy_rain_days(days, bands), bands)))
    return out


def level_conditions(
    levels: Iterable[tuple[datetime, int]], severities: dict[int, Severity], active_from: int = 1
) -> Iterator[tuple[datetime, Condition]]:
    for ts, level in levels:
        yield ts, Condition(active=level >= active_from, severity=severities.get(level, Severity.INFO), level=level)


# -- running a replay through a hub -----------------------------------------------------------------------------
def registry(replay: Replay, tmp_path: Path, name: str = "nodes") -> dict[str, Any]:
    """The replayed nodes as the hub's seed files: their sites give the alert engine each node's area."""
    write_node_configs(replay.configs, tmp_path / name)
    return {"seed_files": [str(tmp_path / name / "*.yaml")], "accept_unknown_nodes": True}


def play(
    replay: Replay,
    until: Callable[[], bool],
    what: str,
    timeout: float = 60.0,
    during: Callable[[ReplayThread], None] | None = None,
) -> dict[str, Any]:
    """Publish the replay through edge agents, then wait (with a deadline) for the notifications it must cause."""
    runner = ReplayThread(replay, drain_timeout_s=timeout).start()
    try:
        if during is not None:
            during(runner)
        summary = runner.join(timeout * 4)  # typically 3-25 s; a busy machine gets slack
        wait_until(until, timeout=timeout, what=what)
    finally:
        runner.stop()
    assert not summary["stopped_early"]
    return summary


# -- (a) typhoon flood ----------------------------------------------------------------------------------------
def test_typhoon_flood_notifies_each_station_through_its_levels_once(tmp_path, make_hub, mosquitto, receiver, influx):
    scenario = load_replay_scenario("typhoon_flood")
    replay = build_replay(scenario, MIDNIGHT_LOCAL, broker_port=mosquitto.port, data_dir=tmp_path / "outboxes")
    levels = alarm_levels(scenario)
    groups = {g.node_id(1): g for g in scenario.groups}
    stations = {
        node: FloodStation(
            station_id=node,
            node_id=node,
            sensor_id="stage",
            river=(groups[node].site.name or node).split("sông ")[-1],
            name=groups[node].site.name or node,
            province=groups[node].site.admin_code or "",
            bd1_m=lv.bd1_m,
            bd2_m=lv.bd2_m,
            bd3_m=lv.bd3_m,
            source=lv.source,
            # The Hồng's wave has two crests (the storm's two rain bands); between them Sơn Tây dips to 13.32 m,
            # 8 cm under BĐ2. With the default 5 cm hysteresis the rule lowers the alarm to BĐ1 there and raises BĐ2
            # again on the second crest; 10 cm holds one flood as one alarm climb, as the scenario intends.
            hysteresis_m=0.1,
        )
        for node, lv in levels.items()
    }
    table = tmp_path / "flood.yaml"
    table.write_text(
        yaml.safe_dump({"stations": [s.model_dump(exclude_none=True) for s in stations.values()]}, allow_unicode=True)
    )
    # One rain gauge per area (each river station's own); the heavy-rain and disaster-risk levels follow from them.
    gauges = {node: groups[node].site.admin_code for node in stations if node != "river-sontay-01"}
    alerts = {
        "flood_stations": str(table),
        "rain_bands": str(SAMPLES / "heavy_rain.yaml"),
        "rain_gauges": [{"gauge_id": f"{n}-rain", "node_id": n, "sensor_id": "rain"} for n in gauges],
        "freshness": {"enabled": False},
    }
    make_hub(alerts=alerts, notify=notify_config(receiver.url), registry=registry(replay, tmp_path))

    # What the rules make of the replayed readings.
    expected_flood = {n: notifications(flood_conditions(replay.series(n, "stage"), s)) for n, s in stations.items()}
    bands = load_rain_bands(SAMPLES / "heavy_rain.yaml")
    rain = {n: rain_levels(replay.series(n, "rain"), bands) for n in gauges}
    expected_rain = {n: notifications(level_conditions(lv, RAIN_SEVERITY)) for n, lv in rain.items()}

    def all_flood_cleared() -> bool:
        return all(len(receiver.transitions("flood_level", n)) >= len(expected_flood[n]) for n in stations) and all(
            len(receiver.transitions("heavy_rain", f"{n}-rain")) >= len(expected_rain[n]) for n in gauges
        )

    summary = play(replay, all_flood_cleared, "every flood and heavy-rain notification")

    # Flood: the order the rules give, and the design the scenario file states (peak_m against BĐ3).
    for node, station in stations.items():
        got = receiver.transitions("flood_level", node)
        assert got == expected_flood[node], node
        peak = next(s.params["peak_m"] for s in groups[node].sensors if s.model == "river_stage")
        design = [("created", 1), ("escalated", 2)] + ([("escalated", 3)] if peak >= station.bd3_m else [])
        assert [(t, lv) for t, lv, _ in got[:-1]] == design, node
        assert got[-1][0] == "cleared", node
    # The file's notes: "this flood peaks between BĐ2 and BĐ3" at Sơn Tây.
    assert "between BĐ2 and BĐ3" in groups["river-sontay-01"].site.notes
    assert max(lv for _, lv, _ in receiver.transitions("flood_level", "river-sontay-01")) == 2

    # Heavy rain: each gauge's alarm as the rolling sums give it; it reaches its highest level and clears.
    for node in gauges:
        got = receiver.transitions("heavy_rain", f"{node}-rain")
        assert got == expected_rain[node], node
        assert got[0][0] == "created" and got[-1][0] == "cleared"
        assert max(lv for _, lv, _ in got) == max(lv for _, lv in rain[node]) >= 1

    # Disaster risk: one alarm per area, reaching the level its (single) hazard reaches.
    for node, area in gauges.items():
        got = receiver.transitions("disaster_risk", area)
        top = combine_hazards({"rain": max(lv for _, lv in rain[node])})
        assert got and got[0][0] == "created" and max(lv for _, lv, _ in got) == top, area
        assert got[-1][0] == "cleared", area
        assert got[-1] == ("cleared", 0, Severity.INFO.value)  # a clear says how things stand now
    assert receiver.bad_signatures == 0
    # Every reading of the replay reached InfluxDB with its scenario timestamp.
    rows = query(influx.url, "iocgw", "SELECT count(value) FROM water_level")
    assert rows[0]["count"] == sum(len(replay.series(n, "stage")) for n in stations)
    first = query(influx.url, "iocgw", "SELECT first(value) FROM water_level WHERE node_id = 'river-longbien-01'")
    assert first[0]["time"] == int(MIDNIGHT_LOCAL.timestamp() * 1000)
    assert summary["readings"] == replay.counts()["readings"]


# -- (b) reservoir filling to its flood levels ----------------------------------------------------------------
def dam_expectations(replay: Replay, rules: Path) -> dict[str, list[tuple[str, int | None, str]]]:
    """Per dam_safety subject: named-level bands, rate of rise, net inflow and the seepage instrument."""
    (res,) = load_reservoirs(rules).reservoirs
    node = res.node_id
    assert node is not None
    level = replay.series(node, "level")
    bands = []
    for ts, value in level:
        state = reservoir_state(value, res)
        idx = list(type(state.band)).index(state.band)
        bands.append((ts, Condition(active=state.severity >= Severity.WARNING, severity=state.severity, level=idx)))
    rise = []
    for i, (ts, _) in enumerate(level):
        window = [p for p in level[: i + 1] if p[0] > ts - timedelta(hours=3)]
        rate = rate_of_rise_m_per_h(window, timedelta(hours=3))
        if rate is not None and res.rise_rate_m_per_h is not None:
            sev = severity_for(rate, res.rise_rate_m_per_h)
            rise.append((ts, Condition(active=sev is not None, severity=sev or Severity.INFO)))
    flows: dict[str, float] = {}
    net = []
    for batch in replay.batches[node]:
        for r in batch.readings:
            if r.quantity.value in ("inflow", "outflow"):
                flows[r.quantity.value] = r.value
                if len(flows) == 2 and res.net_inflow_m3s is not None:
                    sev = severity_for(flows["inflow"] - flows["outflow"], res.net_inflow_m3s)
                    net.append((batch.ts, Condition(active=sev is not None, severity=sev or Severity.INFO)))
    out = {
        f"{res.reservoir_id}/level": notifications(bands),
        f"{res.reservoir_id}/rise": notifications(rise),
        f"{res.reservoir_id}/net_inflow": notifications(net),
    }
    for inst in res.instruments:
        if inst.node_id and inst.sensor_id:
            seepage = []
            for ts, value in replay.series(inst.node_id, inst.sensor_id):
                sev = severity_for(value, inst.thresholds)
                seepage.append((ts, Condition(active=sev is not None, severity=sev or Severity.INFO, value=value)))
            out[f"{res.reservoir_id}/{inst.instrument_id}"] = notifications(seepage)
    return {k: v for k, v in out.items() if v}


def reservoir_hub(tmp_path: Path, make_hub: Callable[..., Any], receiver: SignedReceiver, replay: Replay, **kw: Any):
    alerts = {"reservoirs": str(SAMPLES / "reservoirs.yaml"), "freshness": {"enabled": False}}
    return make_hub(alerts=alerts, notify=notify_config(receiver.url), registry=registry(replay, tmp_path), **kw)


def test_reservoir_filling_escalates_through_its_named_levels_once_each(tmp_path, make_hub, mosquitto, receiver):
    scenario = load_replay_scenario("reservoir_filling")
    replay = build_replay(scenario, MIDNIGHT_LOCAL, broker_port=mosquitto.port, data_dir=tmp_path / "outboxes")
    reservoir_hub(tmp_path, make_hub, receiver, replay)
    expected = dam_expectations(replay, SAMPLES / "reservoirs.yaml")

    def all_there() -> bool:
        return all(len(receiver.transitions("dam_safety", s)) >= len(v) for s, v in expected.items())

    play(replay, all_there, "every dam_safety notification")
    for subject, want in expected.items():
        assert receiver.transitions("dam_safety", subject) == want, subject
    assert receiver.subjects("dam_safety") == set(expected)

    # The level alarm climbs through the named levels the reservoir reaches, in order and once each: from the
    # normal water level (warning) to the design flood level (major); the scenario peaks below the check flood.
    (res,) = load_reservoirs(SAMPLES / "reservoirs.yaml").reservoirs
    peak = max(v for _, v in replay.series("reservoir-001", "level"))
    assert res.design_flood_level_m < peak < res.check_flood_level_m
    assert receiver.transitions("dam_safety", "reservoir-001/level") == [
        ("created", 3, "warning"),  # band 3: normal_to_design_flood
        ("escalated", 4, "major"),  # band 4: design_to_check_flood
    ]
    assert receiver.repeats == 0 and receiver.bad_signatures == 0


# -- (c) a dry week ending in a forest fire seen by a camera ----------------------------------------------------
def test_dry_week_builds_fire_danger_and_a_camera_fire_alarm_carries_it(
    tmp_path, make_hub, mosquitto, receiver, influx
):
    scenario = load_replay_scenario("dry_season_fire")
    replay = build_replay(scenario, DRY_START, broker_port=mosquitto.port, data_dir=tmp_path / "outboxes")
    station, camera_node = "env-huongson-001", "cam-huongson-001"
    settings = load_nesterov_config(SAMPLES / "nesterov.yaml")
    alerts = {
        "nesterov_files": [str(SAMPLES / "nesterov.yaml")],
        "fire_areas": [
            {
                "area_id": "huong-son",
                "area": "42",
                "nesterov": settings.province,
                "temperature": {"node_id": station, "sensor_id": "temperature"},
                "humidity": {"node_id": station, "sensor_id": "humidity"},
                "rain": {"node_id": station, "sensor_id": "rain"},
            }
        ],
        "camera_table": str(SAMPLES / "camera.yaml"),
        "freshness": {"enabled": False},
    }
    make_hub(alerts=alerts, notify=notify_config(receiver.url), registry=registry(replay, tmp_path))

    # The index day by day from the 13:00 local readings (TT 25/2019): what the hub must arrive at.
    temps, hums = replay.series(station, "temperature"), replay.series(station, "humidity")
    rain = replay.series(station, "rain")
    first_day = DRY_START.astimezone(LOCAL_TZ).date()
    days = [first_day + k * DAY for k in range(round(replay.duration_s / 86400))]
    state, daily = NesterovState(), []
    for day in days:
        t13, rh13 = reading_at_local_13(temps, day, settings.reading_tolerance), reading_at_local_13(hums, day)
        assert t13 is not None and rh13 is not None and t13[0].astimezone(LOCAL_TZ).hour == 13
        fallen = sum(v for ts, v in rain if ts.astimezone(LOCAL_TZ).date() == day)
        state = step(state, day, t13[1], rh13[1], fallen, settings)
        daily.append((t13[0], state.p, fire_danger_level(state.p, settings.bands)))
    assert all(b[1] > a[1] for a, b in itertools.pairwise(daily)), "a dry week: P rises every day"
    expected_fire = notifications(level_conditions([(ts, lv) for ts, _, lv in daily], FIRE_SEVERITY, active_from=3))
    (smoke, fire) = scenario.camera_events
    event_day = (DRY_START + timedelta(seconds=smoke.start_s)).astimezone(LOCAL_TZ).date()
    danger = next(lv for ts, _, lv in daily if ts.astimezone(LOCAL_TZ).date() == event_day)

    def camera_cleared() -> bool:
        return {t for t, _, _ in receiver.transitions("camera_fire", f"{camera_node}/tower-north/fire")} >= {
            "created",
            "cleared",
        } and len(receiver.transitions("camera_fire", f"{camera_node}/tower-north/smoke")) >= 2

    play(replay, camera_cleared, "both camera alarms created and cleared")

    # The hub's index at each 13:00 reading is the running sum (the provisional P the rule reports that day).
    rows = query(influx.url, "iocgw", "SELECT p, level FROM fire_danger WHERE area_id = 'huong-son'")
    at = {r["time"]: r for r in rows}
    for ts, p, level in daily:
        row = at[int(ts.timestamp() * 1000)]
        assert row["p"] == pytest.approx(p, rel=1e-9) and row["level"] == level, ts
    assert receiver.transitions("forest_fire_danger", "huong-son") == expected_fire
    assert [lv for _, lv, _ in expected_fire] == list(range(3, daily[-1][2] + 1))  # III, IV, ... one step a time

    # The camera alarms: raised at the severity the fire danger of their day calls for, cleared at `end`.
    for spec in (smoke, fire):
        got = receiver.transitions("camera_fire", f"{camera_node}/{spec.camera}/{spec.label}")
        severity = camera_alert_severity(spec.label, spec.score, danger, DEFAULT_CAMERA_TABLE)
        assert severity is not None and danger >= 3
        # The clear carries the clearing finding's severity; whoever was told hears of it all the same.
        assert got == [("created", danger, severity.value), ("cleared", danger, Severity.INFO.value)], spec.label
        cleared = next(
            p
            for p in receiver.alarms("camera_fire")
            if p["transition"] == "cleared" and spec.label in p["alarm"]["subject"]
        )
        end = DRY_START + timedelta(seconds=spec.start_s + spec.duration_s)
        assert datetime.fromisoformat(cleared["alarm"]["cleared_at"]) == end
    assert receiver.bad_signatures == 0


# -- (d) a hub crash in the middle of a scenario ----------------------------------------------------------------
def test_hub_killed_mid_scenario_neither_loses_nor_repeats_an_alert(tmp_path, make_hub, mosquitto, receiver):
    scenario = load_replay_scenario("reservoir_filling")

    def run(name: str, kill_at_s: float | None) -> list[tuple[str, str, int | None, str]]:
        receiver.deliveries.clear()
        # Each run is its own deployment: own topic prefix, own nodes' outboxes, own hub (session, state, alarms).
        replay = build_replay(
            scenario, MIDNIGHT_LOCAL, broker_port=mosquitto.port, data_dir=tmp_path / name / "outboxes", prefix=name
        )
        hub = reservoir_hub(tmp_path / name, make_hub, receiver, replay, name=f"hub-{name}", mqtt={"prefix": name})
        expected = dam_expectations(replay, SAMPLES / "reservoirs.yaml")
        n_expected = sum(len(v) for v in expected.values())
        killed_after: list[int] = []

        def crash(runner: ReplayThread) -> None:
            if kill_at_s is None:
                return
            # SIGKILL once the replay has written past the middle and alarms are open, then start it again.
            wait_until(lambda: runner.state.t_s >= kill_at_s, timeout=30, what="replay past the kill point")
            wait_until(lambda: len(receiver.deliveries) >= 2, timeout=30, what="alarms open before the kill")
            hub.kill()
            killed_after.append(len(receiver.deliveries))
            hub.start()

        play(replay, lambda: len(receiver.deliveries) >= n_expected, f"{n_expected} notifications", during=crash)
        if kill_at_s is not None:
            assert killed_after and 0 < killed_after[0] < n_expected, "the kill came in the middle of the alarms"
        return [
            (
                d.payload["alarm"]["subject"],
                d.payload["transition"],
                d.payload["alarm"]["level"],
                d.payload["alarm"]["severity"],
            )
            for d in receiver.deliveries
        ]

    calm = run("calm", None)
    crashed = run("crash", scenario.duration_s / 2)

    def by_subject(items: list[tuple[str, str, int | None, str]]) -> dict[str, list[tuple[str, int | None, str]]]:
        out: dict[str, list[tuple[str, int | None, str]]] = {}
        for subject, *rest in items:
            out.setdefault(subject, []).append(tuple(rest))  # type: ignore[arg-type]
        return out

    # Per alarm, the same notifications in the same order; none lost, none added (the receiver dropped only
    # repeated deliveries of one notification, which at-least-once delivery allows).
    assert by_subject(crashed) == by_subject(calm)
    assert len(crashed) == len(calm) >= 4
