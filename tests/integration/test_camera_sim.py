"""The camera pipeline end to end on simulator clips with the committed model: real Mosquitto, hub and InfluxDB.

File clips are read as fast as the node can (``realtime: false``), so ten minutes of video take well under a minute.
Event times of a file source are the start of reading plus the frame's place in the video, which is how the test
measures onset-to-event in video seconds from the stored events themselves.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench._camera_clips import Clip, clips
from simulators.camera import preset
from simulators.camera.server import CameraServer
from tests.support.camera_nodes import camera_node, events
from tests.support.wait import wait_until
from wire import NodeState, Topics

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fire_smoke" / "manifest.yaml"
LATENCY_TARGET_S = 2.0
# Three four-minute distractor-only scenes: twelve minutes of video with every day-time distractor.
DISTRACTORS = ["forest_distractors", "river_distractors", "dam_distractors"]


@pytest.fixture(scope="module")
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    # The simulator is deterministic, so rendered clips are kept in pytest's cache between runs (re-rendered when a
    # preset changes: each clip's spec file is compared); without the cache plugin they go to a temp folder.
    cache = getattr(request.config, "cache", None)
    folder = cache.mkdir("camera-clips") if cache is not None else tmp_path_factory.mktemp("clips")
    names = ["forest_fire_day", "river_flood", "river_rise_below_alarm", *DISTRACTORS]
    return {c.name: c for c in clips(names, Path(folder), {"forest_fire_day": {"seconds": 25.0}})}


def camera(cam_id: str, source: str, **kw: object) -> dict[str, object]:
    return {"id": cam_id, "source": source, "model": str(MODEL), "backend": {"type": "openvino", "threads": 1}, **kw}


def retained_snapshot(port: int, topic: str) -> bytes | None:
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-snapshot-reader")

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        done.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topic, qos=1)
    client.loop_start()
    done.wait(10)
    client.loop_stop()
    client.disconnect()
    return got[0] if got else None


def test_fire_clip_raises_one_event_within_the_latency_target(tmp_path, rendered, make_hub, influx, mosquitto):
    clip = rendered["forest_fire_day"]
    onset = clip.onsets()["fire"]
    make_hub()
    node = camera_node(tmp_path, mosquitto.port, "ridge-node", [camera("ridge", str(clip.video), realtime=False)])
    try:
        wait_until(lambda: node.call(lambda a: a.cameras["ridge"].finished.is_set()), timeout=120, what="clip read")
        t0 = node.call(lambda a: a.cameras["ridge"].capture.t0)
        wait_until(
            lambda: any(r["phase"] == "end" and r["label"] == "fire" for r in events(influx.url, "ridge-node")),
            timeout=30,
            what="fire event stored",
        )
        got = events(influx.url, "ridge-node")
        fire = [r for r in got if r["label"] == "fire"]
        assert [r["phase"] for r in fire if r["phase"] != "update"] == ["new", "end"], got
        latency = fire[0]["time"] / 1000 - (t0 + onset)
        assert 0 <= latency <= LATENCY_TARGET_S, f"fire at {onset} s of video, event {latency:.2f} s later"
        # Nothing but the scripted fire and its smoke is reported, and each label at most once.
        assert {r["label"] for r in got} <= {"fire", "smoke"}
        assert all(sum(1 for r in got if r["label"] == lab and r["phase"] == "new") <= 1 for lab in ("fire", "smoke"))
        jpeg = retained_snapshot(mosquitto.port, Topics().snapshot("ridge-node", "ridge", "fire"))
        assert jpeg is not None and jpeg[:2] == b"\xff\xd8"
    finally:
        node.stop()


def test_water_over_the_alarm_line_is_one_flood_event_and_below_it_none(
    tmp_path, rendered, make_hub, influx, mosquitto
):
    flood, below = rendered["river_flood"], rendered["river_rise_below_alarm"]
    onset = flood.onsets()["flood"]
    assert "flood" not in below.onsets()  # the simulator's truth: water that stays under the line is no flood
    make_hub()
    cams = [camera("bank", str(flood.video), realtime=False), camera("bank-low", str(below.video), realtime=False)]
    node = camera_node(tmp_path, mosquitto.port, "bank-node", cams)
    try:
        for cid in ("bank", "bank-low"):
            wait_until(lambda cid=cid: node.call(lambda a: a.cameras[cid].finished.is_set()), timeout=120, what=cid)
        t0 = node.call(lambda a: a.cameras["bank"].capture.t0)
        wait_until(
            lambda: any(r["phase"] == "end" for r in events(influx.url, "bank-node")), timeout=30, what="flood end"
        )
        got = events(influx.url, "bank-node")
        assert {(r["camera"], r["label"]) for r in got} == {("bank", "flood")}, got
        assert [r["phase"] for r in got if r["phase"] != "update"] == ["new", "end"]
        latency = got[0]["time"] / 1000 - (t0 + onset)
        assert 0 <= latency <= LATENCY_TARGET_S, f"water over the line at {onset} s, event {latency:.2f} s later"
    finally:
        node.stop()


def test_ten_minutes_of_distractors_raise_no_event(tmp_path, rendered, make_hub, influx, mosquitto):
    chosen = [rendered[n] for n in DISTRACTORS]
    assert sum(c.seconds for c in chosen) >= 600
    make_hub()
    cams = [camera(c.name.replace("_", "-"), str(c.video), realtime=False) for c in chosen]
    node = camera_node(tmp_path, mosquitto.port, "quiet-node", cams)
    try:
        for cam in cams:
            cid = str(cam["id"])
            wait_until(lambda cid=cid: node.call(lambda a: a.cameras[cid].finished.is_set()), timeout=240, what=cid)
        processed = node.call(lambda a: {k: c.worker.counters["processed"] for k, c in a.cameras.items()})
        runs = node.call(lambda a: sum(c.worker.counters["detector_runs"] for c in a.cameras.values()))
        assert processed == {str(cam["id"]): round(c.seconds * c.fps) for cam, c in zip(cams, chosen, strict=True)}
        assert runs > 0.3 * sum(processed.values())  # the detector really looked at these scenes
        assert node.call(lambda a: sum(c.worker.counters["events"] for c in a.cameras.values())) == 0
        assert events(influx.url, "quiet-node") == []
    finally:
        node.stop()


def test_mjpeg_stream_cut_and_restored_is_reconnected(tmp_path, make_hub, mosquitto):
    loop = asyncio.new_event_loop()
    server = CameraServer([preset("forest_fire_day", seconds=600.0)])
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
    make_hub()
    node = camera_node(
        tmp_path,
        mosquitto.port,
        "live-node",
        [camera("ridge", server.url("forest_fire_day"), stale_s=2.0, reconnect_min_s=0.2, reconnect_max_s=1.0)],
    )

    def stats() -> dict[str, float]:
        return node.call(lambda a: a.cameras["ridge"].stats())

    try:
        wait_until(lambda: stats()["cam.ridge.connected"] == 1.0, timeout=60, what="stream connected")
        wait_until(lambda: stats()["cam.ridge.detector_runs"] > 0, timeout=60, what="frames processed")
        loop.call_soon_threadsafe(server.cut, "forest_fire_day")
        wait_until(lambda: stats()["cam.ridge.reconnects"] >= 1, timeout=30, what="reconnect attempts")
        runs_cut = stats()["cam.ridge.detector_runs"]
        loop.call_soon_threadsafe(server.restore, "forest_fire_day")
        wait_until(lambda: stats()["cam.ridge.connected"] == 1.0, timeout=30, what="stream back")
        wait_until(lambda: stats()["cam.ridge.detector_runs"] > runs_cut + 5, timeout=30, what="frames again")
        status = json.loads(node.call(lambda a: a._status_payload(NodeState.ONLINE)))
        assert status["extra"]["cam.ridge.reconnects"] >= 1 and status["extra"]["cam.ridge.fps"] > 0
        assert "cam.ridge.infer_ms" in status["extra"] and "cam.ridge.skipped" in status["extra"]
        # The node-wide figures the edge-fleet dashboard reads (hub stores them as x_camera_fps, x_inference_ms).
        assert status["extra"]["camera_fps"] == status["extra"]["cam.ridge.fps"]
        assert status["extra"]["inference_ms"] == status["extra"]["cam.ridge.infer_ms"]
    finally:
        node.stop()
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
