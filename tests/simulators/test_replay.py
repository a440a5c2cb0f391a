"""Scenario replay on scenario time: what is sampled (the live driver's values, stamped start + t), the scripted
camera events, how the replay is cut into steps, its CLI, and delivery through real edge agents to Mosquitto."""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from iocgw.cli import main as cli
from plumbing.configfile import ConfigError
from simulators.sensors.models import create_model
from simulators.sensors.replay import (
    CameraEvent,
    ReadingBatch,
    ReplayThread,
    build_replay,
    load_replay_scenario,
    plan_steps,
)
from simulators.sensors.scenario import load_scenario
from tests.support.wait import wait_until
from wire import EventMessage, TelemetryMessage
from wire.messages import EventPhase
from wire.nodeconfig import Confirm, load_node_config

START = datetime(2026, 10, 27, 17, 0, tzinfo=UTC)  # local midnight, UTC+7


def test_each_sensor_is_sampled_at_its_scenario_interval_and_stamped_start_plus_t(tmp_path: Path) -> None:
    scenario = load_scenario("typhoon_flood")
    replay = build_replay(scenario, START, data_dir=tmp_path, until_s=86_400)
    assert replay.end == START + timedelta(days=1)
    batches = replay.batches["river-longbien-01"]
    # stage every 900 s, rain every 300 s, battery every 3600 s; readings of one tick share a batch
    assert [b.t_s for b in batches] == [300.0 * k for k in range(289)]
    for b in batches:
        assert b.ts == START + timedelta(seconds=b.t_s)
        assert all(r.ts == b.ts for r in b.readings)
        expect = {"rain"} | ({"stage"} if b.t_s % 900 == 0 else set()) | ({"battery"} if b.t_s % 3600 == 0 else set())
        assert {r.sensor_id for r in b.readings} == expect
    # The values are the scenario's models at scenario time t, whatever the time scale of a live run.
    cfg = next(c for c in replay.configs if c.node_id == "river-longbien-01")
    stage = next(s for s in cfg.sensors if s.id == "stage")
    model = create_model("river_stage", stage.driver.params, stage.driver.seed)
    for ts, value in replay.series("river-longbien-01", "stage"):
        assert value == model.sample(None, (ts - START).total_seconds())
    # Rain increments add up to the depth fallen (whole tips), as the gauge's counter has it.
    rain = sum(v for _, v in replay.series("river-longbien-01", "rain"))
    gauge = create_model("rain_gauge", next(s for s in cfg.sensors if s.id == "rain").driver.params, 0)
    assert rain == pytest.approx(gauge.tips(86_400) * 0.2)
    # The node configs carry scenario intervals (the hub's registry for replayed nodes) and t=0 at start.
    assert stage.interval_s == 900 and stage.driver.time_scale == 1.0 and stage.driver.start == START


def test_faults_apply_as_on_a_live_node(tmp_path: Path) -> None:
    replay = build_replay(load_scenario("faults"), START, data_dir=tmp_path)
    # Dropout 1200-1800 s: no rain readings then, and the next one carries the rain that fell meanwhile.
    rain = {b.t_s: r.value for b in replay.batches["river-flt-003"] for r in b.readings if r.sensor_id == "rain"}
    assert not [t for t in rain if 1200 <= t < 1800] and 1800.0 in rain and rain[1800.0] > rain[1140.0]
    clean = {b.t_s: r.value for b in replay.batches["river-flt-002"] for r in b.readings if r.sensor_id == "rain"}
    assert math.fsum(rain.values()) == pytest.approx(math.fsum(clean.values()))
    # Stuck 600-1500 s: one value repeated.
    stuck = {
        r.value
        for b in replay.batches["river-flt-002"]
        for r in b.readings
        if r.sensor_id == "stage" and 600 <= b.t_s < 1500
    }
    assert len(stuck) == 1
    # Clock skew: the device's timestamps run 300 s ahead of the tick.
    skewed = [(b.ts, r.ts) for b in replay.batches["env-flt-002"] for r in b.readings if r.sensor_id == "temperature"]
    assert skewed and all(r - b == timedelta(seconds=300) for b, r in skewed)
    # Link loss 1800-2400 s: what river-flt-001 sampled then goes out when the link is back, in order.
    assert replay.link_loss["river-flt-001"] == [(1800.0, 2400.0)]
    assert replay.release_s("river-flt-001", 1900.0) == 2400.0 and replay.release_s("river-flt-001", 1700.0) == 1700.0
    steps = plan_steps(replay, 300.0)
    late = [s for s in steps if any(1800 <= i.t_s < 2400 for i in s.items.get("river-flt-001", []))]
    assert len(late) == 1 and late[0].t1 > 2400


def test_camera_events_play_new_updates_end_at_their_scenario_times(tmp_path: Path) -> None:
    scenario = load_replay_scenario("dry_season_fire")
    replay = build_replay(scenario, START, data_dir=tmp_path)
    events = replay.events["cam-huongson-001"]
    by_id: dict[str, list[CameraEvent]] = {}
    for e in events:
        by_id.setdefault(e.event_id, []).append(e)
    assert set(by_id) == {"tower-north-smoke-1", "tower-north-fire-2"}
    for spec, evs in zip(scenario.camera_events, by_id.values(), strict=True):
        assert [e.phase for e in evs] == [EventPhase.NEW] + [EventPhase.UPDATE] * (len(evs) - 2) + [EventPhase.END]
        assert evs[0].t_s == spec.start_s and evs[-1].t_s == spec.start_s + spec.duration_s
        assert all(e.ts == START + timedelta(seconds=e.t_s) and e.start == evs[0].ts for e in evs)
        assert evs[-1].end == evs[-1].ts and all(e.end is None for e in evs[:-1])
        scores = [e.top_score for e in evs]
        assert scores == sorted(scores) and scores[0] == spec.score and scores[-1] == spec.top_score
        msg = evs[0].message(7)
        assert isinstance(msg, EventMessage) and msg.seq == 7 and msg.node_id == "cam-huongson-001"
        EventMessage.model_validate_json(msg.model_dump_json())
    # A camera event is a step of its own: everything before it goes (and is confirmed) first.
    steps = plan_steps(replay, 6 * 3600.0)
    barriers = [s for s in steps if s.barrier]
    assert len(barriers) == len({e.t_s for e in events})
    assert all(isinstance(i, CameraEvent) for s in barriers for items in s.items.values() for i in items)
    for node in replay.node_ids:
        sent = [i for s in steps for i in s.items.get(node, [])]
        assert sent == replay.items(node)  # every item exactly once, in the node's order
    at = next(s for s in steps if s.barrier)
    before = steps[: steps.index(at)]
    assert max(i.t_s for s in before for items in s.items.values() for i in items) <= at.t0


def test_bad_camera_events_are_reported_with_their_field(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "simulators" / "scenarios" / "dry_season_fire.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        text.replace(
            "node: cam-huongson-001\n    camera: tower-north\n    label: fire",
            "node: cam-x\n    camera: tower-north\n    label: fire",
        )
    )
    with pytest.raises(ConfigError, match="node 'cam-x' is not one of the scenario's nodes"):
        load_replay_scenario(bad)
    bad.write_text(text.replace("top_score: 0.93", "top_score: 0.5"))
    with pytest.raises(ConfigError, match="top_score must not be below score"):
        load_replay_scenario(bad)
    with pytest.raises(ValueError, match="timezone-aware"):
        build_replay(load_scenario("faults"), datetime(2026, 1, 1), data_dir=tmp_path)


def test_cli_writes_scenario_time_configs_and_rejects_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "nodes"
    args = ["sim", "replay", "--scenario", "reservoir_filling", "--start", "2026-10-28T00:00:00+07:00"]
    assert cli([*args, "--broker", "127.0.0.1:1884", "--write-configs", str(out)]) == 0
    cfg = load_node_config(out / "reservoir-001.yaml")
    assert cfg.mqtt.port == 1884 and cfg.site.admin_code == "42"
    assert {s.id: s.interval_s for s in cfg.sensors}["seepage"] == 3600
    assert cfg.sensors[0].driver.start == START
    assert cli(["sim", "replay", "--scenario", "no_such", "--start", "2026-10-28T00:00:00Z"]) == 2
    assert "no_such" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli(["sim", "replay", "--start", "2026-10-28T00:00:00"])  # no UTC offset
    assert exc.value.code == 2
    assert "UTC offset" in capsys.readouterr().err


class Collector:
    """A paho subscriber keeping every message of a topic filter."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "no SUBACK"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_replay_goes_through_edge_agents_in_order_with_scenario_timestamps(tmp_path: Path, mosquitto) -> None:
    scenario = load_replay_scenario("dry_season_fire")
    # The last day only (the camera events are on it), broker confirmation: no hub here.
    replay = build_replay(scenario, START, broker_port=mosquitto.port, data_dir=tmp_path / "outboxes", prefix="rp")
    day7 = 6 * 86_400.0
    replay.batches = {n: [b for b in bs if b.t_s >= day7] for n, bs in replay.batches.items()}
    sub = Collector(mosquitto.port, "rp/v1/+/+")
    try:
        runner = ReplayThread(replay, confirm=Confirm.BROKER, window_s=3600.0, drain_timeout_s=30).start()
        summary = runner.join(60)
        total = sum(len(b) for b in replay.batches.values()) + sum(len(e) for e in replay.events.values())
        assert summary["messages"] == total and not summary["stopped_early"]
        wait_until(lambda: len([t for t, _ in sub.messages if not t.endswith("/status")]) >= total, timeout=30)
    finally:
        sub.close()
    per_node: dict[str, list[TelemetryMessage | EventMessage]] = {}
    for topic, payload in sub.messages:
        channel = topic.rsplit("/", 1)[1]
        if channel == "telemetry":
            msg: TelemetryMessage | EventMessage = TelemetryMessage.model_validate_json(payload)
        elif channel == "event":
            msg = EventMessage.model_validate_json(payload)
        else:
            continue
        per_node.setdefault(msg.node_id, []).append(msg)
    for node, msgs in per_node.items():
        assert [m.seq for m in msgs] == sorted(m.seq for m in msgs), "each node's messages in order"
        sent = replay.items(node)
        assert [m.ts for m in msgs] == [i.ts for i in sent]
        for m, item in zip(msgs, sent, strict=True):
            if isinstance(item, ReadingBatch):
                assert isinstance(m, TelemetryMessage) and [r.value for r in m.readings] == [
                    r.value for r in item.readings
                ]
            else:
                assert isinstance(m, EventMessage) and (m.phase, m.label) == (item.phase, item.label)
    assert per_node["cam-huongson-001"][-1].ts == START + timedelta(days=7)  # battery at t = duration
    events = [json.loads(p) for t, p in sub.messages if t.endswith("/event")]
    assert len(events) == len(replay.events["cam-huongson-001"])
    assert summary["wall_s"] < 30  # a day of scenario in seconds: no wall-clock pacing
