"""The camera benchmark's measurements, one function each (bench/camera.py strings them together)."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench._camera_clips import Clip
from bench._report import percentile
from edge.camera.capture import Capture
from edge.camera.confirm import Phase
from edge.camera.events import Outgoing
from edge.camera.pipeline import CameraPipeline, CameraWorker
from edge.inference import BackendConfig, Detector, Manifest
from edge.inference.preprocess import prepare
from wire.nodeconfig.camera import CameraConfig


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sample_frames(clip: Clip, n: int) -> list[np.ndarray]:
    cap = Capture(str(clip.video), clip.fps, realtime=False).start()
    frames = []
    try:
        while len(frames) < n and (f := cap.get(timeout=10)) is not None:
            frames.append(f.image)
    finally:
        cap.stop()
    return frames


def latency(manifest: Manifest, backend: BackendConfig, frames: list[np.ndarray], iterations: int) -> dict[str, Any]:
    """Inference alone (the model at its input size), and the whole detect step (letterbox, infer, decode)."""
    det = Detector.load(manifest, backend)
    tensors = [prepare(f, manifest.input)[0] for f in frames]
    for t in tensors[:10]:
        det.backend.infer(t)
    infer_ms = []
    start = time.perf_counter()
    for i in range(iterations):
        t0 = time.perf_counter()
        det.backend.infer(tensors[i % len(tensors)])
        infer_ms.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    detect_ms = []
    for i in range(min(iterations, 200)):
        t0 = time.perf_counter()
        det.detect(frames[i % len(frames)])
        detect_ms.append((time.perf_counter() - t0) * 1000)
    det.close()
    return {
        "threads": backend.threads,
        "p50_ms": round(percentile(infer_ms, 50) or 0, 2),
        "p99_ms": round(percentile(infer_ms, 99) or 0, 2),
        "mean_ms": round(statistics.fmean(infer_ms), 2),
        "throughput_per_s": round(iterations / elapsed, 1),
        "detect_p50_ms": round(percentile(detect_ms, 50) or 0, 2),
    }


def camera_config(cam_id: str, clip: Clip, manifest_path: Path, backend: BackendConfig, **kw: Any) -> CameraConfig:
    """The clip's camera as a node would have it: its source, the model, the sky drawn above its skyline and, on a
    river or dam view, the band above the alarm line for the water-line rule."""
    band = clip.band()
    return CameraConfig.model_validate(
        {
            "id": cam_id,
            "source": str(clip.video),
            "model": str(manifest_path),
            "backend": backend.model_dump(),
            "sky": [clip.sky()],
            **({"waterline": {"band": band}} if band else {}),
            **kw,
        }
    )


def fast_run(clip: Clip, detector: Detector, config: CameraConfig) -> dict[str, Any]:
    """Read a clip as fast as possible through the real capture and per-frame pipeline; every event with its
    video time."""
    worker = CameraWorker(config, detector)
    cap = Capture(config.source, config.fps, realtime=False, name=config.id).start()
    events: list[dict[str, Any]] = []

    def note(outs: list[Outgoing], video_t: float) -> None:
        for o in outs:
            events.append({"phase": o.transition.phase.value, "label": o.transition.label, "video_t": video_t})

    t0 = time.perf_counter()
    frames = 0
    try:
        while (f := cap.get(timeout=30)) is not None:
            frames += 1
            note(worker.process(f), f.video_t)
        note(worker.finish(worker.last_frame_ts), clip.seconds)
    finally:
        cap.stop()
    return {
        "clip": clip.name,
        "frames": frames,
        "wall_s": round(time.perf_counter() - t0, 2),
        "detector_runs": worker.counters["detector_runs"],
        "events": events,
    }


def onset_to_event(run: dict[str, Any], onsets: dict[str, float]) -> dict[str, float | None]:
    """Per label present in the truth: seconds of video from its first truth box to its first `new` event."""
    out: dict[str, float | None] = {}
    for label, onset in onsets.items():
        news = [e["video_t"] for e in run["events"] if e["phase"] == Phase.NEW.value and e["label"] == label]
        out[label] = round(news[0] - onset, 2) if news else None
    return out


def capacity_trial(
    clips: list[Clip], manifest_path: Path, backend: BackendConfig, cameras: int, seconds: float, fps: float = 5.0
) -> dict[str, Any]:
    """``cameras`` real pipelines reading clips at their real pace (looping); the rate each sustains."""

    async def body() -> dict[str, Any]:
        stop = asyncio.Event()
        pipes = [
            CameraPipeline(
                camera_config(f"cam-{i}", clips[i % len(clips)], manifest_path, backend, loop=True, fps=fps),
                lambda _o: None,
            )
            for i in range(cameras)
        ]
        tasks = [asyncio.create_task(p.run(stop)) for p in pipes]
        try:
            await asyncio.wait_for(
                _until(lambda: all(p.worker and p.worker.counters["processed"] > 3 for p in pipes)), 120
            )
            await asyncio.sleep(2.0)  # warm-up: models loaded, first frames through
            before = [(p.worker.counters["processed"], p.capture.counters["skipped"]) for p in pipes]  # type: ignore[union-attr]
            cpu0, t0 = os.times(), time.monotonic()
            peak_rss = rss_mb()
            end = t0 + seconds
            while time.monotonic() < end:
                await asyncio.sleep(0.5)
                peak_rss = max(peak_rss, rss_mb())
            cpu1, t1 = os.times(), time.monotonic()
            after = [(p.worker.counters["processed"], p.capture.counters["skipped"]) for p in pipes]  # type: ignore[union-attr]
            runs = sum(p.worker.counters["detector_runs"] for p in pipes)  # type: ignore[union-attr]
            shed = sum(p.worker.counters["shed"] for p in pipes)  # type: ignore[union-attr]
            total = sum(p.worker.counters["processed"] for p in pipes)  # type: ignore[union-attr]
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        span = t1 - t0
        rates = [(a[0] - b[0]) / span for a, b in zip(after, before, strict=True)]
        skipped = sum(a[1] - b[1] for a, b in zip(after, before, strict=True))
        processed = sum(a[0] - b[0] for a, b in zip(after, before, strict=True))
        cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / span
        return {
            "cameras": cameras,
            "min_fps": round(min(rates), 2),
            "mean_fps": round(statistics.fmean(rates), 2),
            "skipped_ratio": round(skipped / max(1, processed + skipped), 3),
            "detector_run_ratio": round(runs / max(1, total), 3),
            # Share of frames whose moving tiles were shed under load (the whole frame and tracks always ran).
            "shed_ratio": round(shed / max(1, total), 3),
            "cpu_cores_used": round(cpu, 2),
            "rss_mb": round(peak_rss, 1),
            "sustained": min(rates) >= 0.95 * fps and skipped <= 0.05 * max(1, processed + skipped),
        }

    return asyncio.run(body())


async def _until(cond: Any) -> None:
    while not cond():
        await asyncio.sleep(0.1)


def mqtt_onset(clip: Clip, manifest_path: Path, backend: BackendConfig, label: str) -> dict[str, Any]:
    """A node reading a fire clip at its real pace, through its outbox to a real Mosquitto: seconds from the
    onset in the video (mapped to the wall clock) to the `new` event arriving at a subscriber."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.agent import Agent
    from testkit.localsvc import Mosquitto
    from wire import EventMessage, Topics
    from wire.nodeconfig import NodeConfig

    onset = clip.onsets()[label]
    with tempfile.TemporaryDirectory(prefix="bench-camera-") as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto")
        broker.start()
        arrivals: list[tuple[float, EventMessage]] = []
        sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-camera-sub")
        sub.on_message = lambda _c, _u, m: arrivals.append((time.time(), EventMessage.model_validate_json(m.payload)))
        sub.connect("127.0.0.1", broker.port)
        sub.subscribe(Topics().event("bench-node"), qos=1)
        sub.loop_start()
        config = NodeConfig.model_validate(
            {
                "node_id": "bench-node",
                "data_dir": str(Path(tmp) / "node"),
                "mqtt": {"port": broker.port, "reconnect_min_s": 0.1},
                "outbox": {"confirm": "broker", "synchronous": "NORMAL", "drain_on_stop_s": 1.0},
                "cameras": [camera_config("cam-1", clip, manifest_path, backend).model_dump(mode="json")],
            }
        )
        result: dict[str, Any] = {"clip": clip.name, "label": label}
        loop = asyncio.new_event_loop()
        agent = Agent.open(config, use_remote_config=False)
        stop = asyncio.Event()

        def run_agent() -> None:
            loop.run_until_complete(agent.run(stop))

        thread = threading.Thread(target=run_agent, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + onset + 30
            while time.monotonic() < deadline:
                news = [(t, m) for t, m in arrivals if m.phase.value == "new" and m.label == label]
                if news:
                    cam = agent.cameras["cam-1"]
                    assert cam.capture is not None
                    result["onset_to_mqtt_s"] = round(news[0][0] - (cam.capture.t0 + onset), 2)
                    break
                time.sleep(0.05)
            else:
                result["onset_to_mqtt_s"] = None
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(30)
            sub.loop_stop()
            sub.disconnect()
            broker.kill()
        return result
