"""Cluster mode: what the leader does besides evaluating its feed, with real processes (two hubs on one shared
subscription, Mosquitto, InfluxDB, PostgreSQL): quality control of every reading (the ingest hubs store values
only), the time-driven rules, and stepping down when its feed fails while it still holds the leadership
(docs/scaling.md, "Cluster mode"; issue 17)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import yaml

from hub.api.auth import Role
from tests.conftest import T0
from tests.hub.api.support import STATION, TOKENS, api_section
from tests.integration.test_alert_cluster import SINGLE_HUB, leading, send_json
from tests.integration.test_alerts_path import HYDROGRAPH, flood_config, stage_readings
from tests.support.influx import query
from tests.support.wait import wait_until
from wire import Reading

EXAMPLE = Path(__file__).parents[2] / "firmware_configs" / "examples" / "river-station-longbien.yaml"
OUT_OF_RANGE = 5000.0  # above the built-in hard limit for river stage (1000 m): bad, whatever came before


def alarms(hub, rule: str) -> list[dict]:
    return hub.get_json(f"/api/alerts?rule={rule}", token=TOKENS[Role.VIEWER])["alerts"]


def cluster_hubs(make_hub, tmp_path, postgres, monkeypatch, registry=None, **alerts_extra) -> list:
    monkeypatch.setenv("IOCGW_TEST_PG_DSN", postgres.dsn)
    section = {**flood_config(tmp_path), **alerts_extra, "cluster": {"dsn": {"env": "IOCGW_TEST_PG_DSN"}}}
    extra = {"registry": registry} if registry else {}
    return [
        make_hub(name, mqtt={"shared_group": "ingest"}, alerts=dict(section), api=api_section(), **extra)
        for name in ("hub-a", "hub-b")
    ]


def seed_stage(folder: Path, interval_s: int) -> dict:
    """The Long Biên gauge registered with its stage sensor and its interval (a registry section)."""
    config = yaml.safe_load(EXAMPLE.read_text("utf-8"))
    sensor = {**config["sensors"][0], "id": "stage", "interval_s": interval_s}
    folder.mkdir()
    seed = {**config, "node_id": "river-longbien-01", "sensors": [sensor]}
    (folder / "node.yaml").write_text(yaml.safe_dump(seed, allow_unicode=True), "utf-8")
    return {"seed_files": [str(folder / "*.yaml")]}


def record_stage(node, value: float, ts: datetime) -> None:
    """One stage reading through the node's agent (its outbox, then MQTT)."""
    node.call(lambda a: a.record([Reading(sensor_id="stage", quantity="water_level", value=value, unit="m", ts=ts)]))


def stage_points(influx) -> list[dict]:
    return query(influx.url, "iocgw", "SELECT value, quality, qc FROM water_level WHERE node_id = 'river-longbien-01'")


def test_the_leader_flags_readings_and_runs_the_time_driven_rules(
    tmp_path, make_hub, make_node, postgres, influx, monkeypatch
):
    freshness = {"enabled": True, "grace_factor": 2.0, "check_every_s": 0.2}
    registry = seed_stage(tmp_path / "seeds", 1)
    hubs = cluster_hubs(make_hub, tmp_path, postgres, monkeypatch, registry, freshness=freshness, tick_s=0.2)
    leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
    node = make_node("river-longbien-01")
    node.call(lambda a: a.record(stage_readings(0)))
    node.call(lambda a: a.record(stage_readings(1)))
    record_stage(node, OUT_OF_RANGE, T0 + timedelta(hours=1, minutes=30))
    for i in range(2, 5):  # up to 10.8 m: BĐ2
        node.call(lambda a, i=i: a.record(stage_readings(i)))

    def flagged() -> list[dict]:
        points = stage_points(influx)
        # The ingest hub's value and the leader's flag are two writes, landing in either order.
        whole = all(p.get("quality") and p.get("value") is not None for p in points)
        return points if len(points) == 6 and whole else []

    points = wait_until(flagged, what="six stage readings stored, each with its value and the leader's flag")
    by_value = {p["value"]: p for p in points}
    assert by_value[OUT_OF_RANGE]["quality"] == "bad" and by_value[OUT_OF_RANGE]["qc"] == "hard_limit"
    assert [p["quality"] for p in points if p["value"] != OUT_OF_RANGE] == ["good"] * 5
    assert not any(p.get("qc") for p in points if p["value"] != OUT_OF_RANGE)

    # The bad reading moved no alarm: the leader's engine judged the same series as one hub would.
    flood = wait_until(lambda: [a for a in alarms(leader, "flood_level") if a["level"] == 2], what="BĐ2")
    assert len(flood) == 1 and flood[0]["peak_level"] == 2
    # Readings 30 days old: the sensor is silent by the leader's clock; only a tick can say so.
    stale = wait_until(lambda: alarms(leader, "data_freshness"), what="the leader's tick raising data_freshness")
    assert stale[0]["subject"] == "river-longbien-01/stage"
    standby = next(h for h in hubs if h is not leader)
    assert alarms(standby, "data_freshness") == stale, "every hub answers from PostgreSQL"


def test_a_leader_whose_feed_fails_steps_down_and_another_continues(
    tmp_path, make_hub, make_node, postgres, monkeypatch
):
    hubs = cluster_hubs(make_hub, tmp_path, postgres, monkeypatch)
    leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
    standby = next(h for h in hubs if h is not leader)
    node = make_node("river-longbien-01")
    for i in range(3):
        node.call(lambda a, i=i: a.record(stage_readings(i)))
    wait_until(lambda: alarms(leader, "flood_level"), what="the first alarm")
    # The leader's store connection dies while its leadership session lives: its next commit fails, so its feed
    # stops without acknowledging, and it must hand over rather than lead without evaluating.
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'iocgw-alerts'"
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    for i in range(3, len(HYDROGRAPH)):
        node.call(lambda a, i=i: a.record(stage_readings(i)))
    wait_until(lambda: leading(standby), timeout=15, what="the standby leading after the leader stepped down")
    assert "stepped down: the alert feed stopped" in leader.log.read_text(errors="replace")
    items = wait_until(
        lambda: [a for a in alarms(standby, "flood_level") if a["state"] == "CLEARED_UNACK"],
        timeout=60,
        what="the alarm cleared by the new leader",
    )
    assert len(items) == 1 and items[0]["peak_level"] == max(level for _, level in SINGLE_HUB)
    with psycopg.connect(postgres.dsn) as conn:
        rows = conn.execute(
            "SELECT transition FROM iocgw_alerts.alarm_events WHERE alarm_id = %s ORDER BY id", (items[0]["id"],)
        ).fetchall()
    # The notified transitions (the outbox), as one hub notifies them: each once, none lost across the hand-over.
    assert [r[0] for r in rows] == [transition for transition, _ in SINGLE_HUB]


def put_threshold(hub, station: dict) -> tuple[int, dict]:
    body = {"station": station, "comment": "QĐ mới của UBND tỉnh"}
    return send_json(hub, "PUT", f"/api/thresholds/flood/{station['station_id']}", body, Role.HYDROLOGY)


def test_a_threshold_changed_on_a_standby_is_the_leaders_at_once_and_the_next_leaders(
    tmp_path, make_hub, make_node, postgres, monkeypatch
):
    hubs = cluster_hubs(make_hub, tmp_path, postgres, monkeypatch)
    leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
    standby = next(h for h in hubs if h is not leader)
    node = make_node("river-longbien-01")
    at = T0 + timedelta(hours=1)

    def stage(value: float, hours: float) -> None:
        record_stage(node, value, at + timedelta(hours=hours))

    stage(9.2, 0)  # under BĐ1 (9.5 m)
    station = {k: v for k, v in STATION.items() if k != "zone"}
    status, body = put_threshold(standby, {**station, "bd1_m": 9.0})
    assert status == 200, body
    wait_until(
        lambda: leader.get_json("/api/thresholds", token=TOKENS[Role.VIEWER])["overrides"],
        what="the override seen by the leader's API",
    )
    stage(9.3, 1)  # over the lowered BĐ1: the leader's engine must judge it by the standby's change
    raised = wait_until(lambda: alarms(leader, "flood_level"), what="BĐ1 by the lowered threshold")
    assert raised[0]["level"] == 1 and raised[0]["details"]["bd_m"][0] == 9.0
    # The next leader starts from the same overrides.
    leader.kill()
    wait_until(lambda: leading(standby), timeout=10, what="the standby leading")
    stage(9.1, 2)  # over 9.0, under the file's 9.5: stays raised only if the new leader has the override
    stage(10.6, 3)  # BĐ2: proves the new leader evaluated both
    items = wait_until(lambda: [a for a in alarms(standby, "flood_level") if a["level"] == 2], what="BĐ2")
    assert len(items) == 1 and items[0]["details"]["bd_m"][0] == 9.0
    with psycopg.connect(postgres.dsn) as conn:
        rows = conn.execute(
            "SELECT transition FROM iocgw_alerts.alarm_events WHERE alarm_id = %s ORDER BY id", (items[0]["id"],)
        ).fetchall()
    assert [r[0] for r in rows] == ["created", "escalated"], "9.1 m kept the alarm: no clear, no second created"


def test_a_reading_held_as_a_possible_spike_when_the_leader_dies_is_evaluated_by_the_next(
    tmp_path, make_hub, make_node, postgres, monkeypatch
):
    """9.0 m, then 9.6 m 20 minutes later: over the spike threshold (0.3 m) from its neighbour, within the rate
    limit, so quality control holds it back from the engine until the next reading says whether it was a spike.
    Its message is acknowledged with its batch; the leader dies before the next reading. The next leader holds it
    again (committed with the batch) and evaluates it when 9.7 m comes: BĐ1 from 9.6 m's time, as one hub has it."""
    registry = seed_stage(tmp_path / "seeds", 600)  # a spike is judged across up to 2.5 intervals: 25 minutes
    hubs = cluster_hubs(make_hub, tmp_path, postgres, monkeypatch, registry)
    leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
    standby = next(h for h in hubs if h is not leader)
    node = make_node("river-longbien-01")
    at = T0 + timedelta(hours=1)

    def stage(value: float, minutes: int) -> None:
        record_stage(node, value, at + timedelta(minutes=minutes))

    def held() -> list:
        with psycopg.connect(postgres.dsn) as conn:
            row = conn.execute("SELECT body FROM iocgw_alerts.rule_state WHERE key = 'source:held'").fetchone()
        return json.loads(row[0]) if row else []

    stage(9.0, 0)
    stage(9.6, 20)
    wait_until(lambda: [h["value"] for h in held()] == [9.6], what="9.6 m held back, committed with its batch")
    assert alarms(leader, "flood_level") == [], "not evaluated yet"
    leader.kill()
    wait_until(lambda: leading(standby), timeout=10, what="the standby leading")
    stage(9.7, 40)
    raised = wait_until(lambda: alarms(standby, "flood_level"), what="BĐ1")
    assert raised[0]["started_at"] == (at + timedelta(minutes=20)).isoformat().replace("+00:00", "Z")
    wait_until(lambda: held() == [], what="the released reading no longer held")


def test_the_next_leader_judges_the_first_reading_after_a_takeover_against_the_stored_series(
    tmp_path, make_hub, make_node, postgres, influx, monkeypatch
):
    """9.0 m stored, the leader dies, then 12.0 m ten minutes later: 3 m in ten minutes fails the rate of change, as
    one hub judges it. The next leader's quality checker is warmed from InfluxDB (hub/quality/warmup.py), so it
    flags the jump too and no BĐ3 alarm is raised; an empty checker would have judged it on its value alone."""
    registry = seed_stage(tmp_path / "seeds", 600)
    hubs = cluster_hubs(make_hub, tmp_path, postgres, monkeypatch, registry)
    leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
    standby = next(h for h in hubs if h is not leader)
    node = make_node("river-longbien-01")
    at = T0 + timedelta(hours=1)
    record_stage(node, 9.0, at)
    wait_until(lambda: [p for p in stage_points(influx) if p.get("quality") and p.get("value")], what="9.0 m stored")
    leader.kill()
    wait_until(lambda: leading(standby), timeout=10, what="the standby leading")
    record_stage(node, 12.0, at + timedelta(minutes=10))

    def jump() -> list[dict]:
        return [p for p in stage_points(influx) if p.get("value") == 12.0 and p.get("quality")]

    (point,) = wait_until(jump, what="12.0 m stored with the new leader's flag")
    assert (point["quality"], point["qc"]) == ("suspect", "rate_of_change")
    assert "quality control warmed up" in standby.log.read_text(errors="replace")
    record_stage(node, 9.05, at + timedelta(minutes=20))  # a trusted reading after it: evaluated, so 12.0 m was seen
    wait_until(lambda: len(stage_points(influx)) == 3 and all(p.get("quality") for p in stage_points(influx)))
    assert alarms(standby, "flood_level") == [], "the jump moved no alarm"


def test_the_leaders_flags_wait_in_postgresql_while_influxdb_is_down(
    tmp_path, make_hub, make_node, postgres, influx, monkeypatch
):
    """The leader writes a batch's flags straight to InfluxDB; with InfluxDB away they are committed with the batch
    (pending_lines) and written once it is back: no flag lost, and the alarms go on meanwhile."""
    hubs = cluster_hubs(make_hub, tmp_path, postgres, monkeypatch)
    leader = wait_until(lambda: next((h for h in hubs if leading(h)), None), what="a leader with its feed")
    node = make_node("river-longbien-01")
    record_stage(node, 8.0, T0)
    wait_until(lambda: [p for p in stage_points(influx) if p.get("quality")], what="the first reading flagged")
    influx.kill()
    record_stage(node, OUT_OF_RANGE, T0 + timedelta(minutes=30))
    record_stage(node, 9.6, T0 + timedelta(hours=1))  # BĐ1, evaluated while InfluxDB is down

    def pending() -> list[str]:
        with psycopg.connect(postgres.dsn) as conn:
            return [r[0] for r in conn.execute("SELECT line FROM iocgw_alerts.pending_lines").fetchall()]

    kept = wait_until(lambda: [x for x in pending() if x.startswith("water_level")], what="the flags kept")
    assert any('quality="bad",qc="hard_limit"' in x for x in kept)
    assert wait_until(lambda: alarms(leader, "flood_level"), what="BĐ1 while InfluxDB is down")[0]["level"] == 1
    influx.start()

    def stored() -> dict[float, dict]:
        points = {p["value"]: p for p in stage_points(influx) if p.get("value") is not None and p.get("quality")}
        return points if len(points) == 3 else {}

    points = wait_until(stored, timeout=60, what="values (the ingest spool) and flags (pending) stored")
    assert (points[OUT_OF_RANGE]["quality"], points[OUT_OF_RANGE]["qc"]) == ("bad", "hard_limit")
    assert points[9.6]["quality"] == "good"
    wait_until(lambda: not [x for x in pending() if x.startswith("water_level")], what="pending flags released")
