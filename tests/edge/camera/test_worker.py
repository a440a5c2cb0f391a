"""The per-frame pipeline (motion -> detector -> confirmation -> outgoing) with the tiny model on made-up frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.camera.capture import Frame
from edge.camera.confirm import Phase
from edge.camera.events import Outgoing
from edge.camera.pipeline import CameraWorker, load_detector
from wire.nodeconfig.camera import CameraConfig

W, H = 320, 240
SQUARE = (160, 60, 240, 160)


def background(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)  # sensor noise that changes every frame
    frame = np.full((H, W, 3), 100, np.int16) + rng.integers(-4, 5, (H, W, 3))
    return frame.clip(0, 255).astype(np.uint8)


def with_fire(frame: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = SQUARE
    frame[y1:y2, x1:x2] = (0, 0, 255)
    return frame


def run(config: CameraConfig, fire_on: set[int], frames: int = 60) -> tuple[CameraWorker, list[Outgoing]]:
    worker = CameraWorker(config, load_detector(config))
    out: list[Outgoing] = []
    for i in range(frames):
        img = background(i)
        if i in fire_on:
            img = with_fire(img)
        out += worker.process(Frame(img, 1000.0 + i / 5, i / 5, i))
    out += worker.finish(1000.0 + frames / 5)
    return worker, out


def camera(tiny_manifest: Path, **overrides: Any) -> CameraConfig:
    base = {"id": "cam-1", "source": "x.avi", "model": str(tiny_manifest), "confirm": {"window": 5, "min_hits": 3}}
    return CameraConfig.model_validate({**base, **overrides})


def test_sustained_fire_raises_one_event_with_snapshot(tiny_manifest: Path) -> None:
    worker, out = run(camera(tiny_manifest), set(range(10, 60)))
    assert [o.transition.phase for o in out] == [Phase.NEW, Phase.END]
    new = out[0]
    assert new.transition.label == "fire"
    assert new.transition.t == pytest.approx(1000.0 + 12 / 5)  # confirmed on the third sighting
    x1, y1, x2, y2 = new.transition.box
    assert x1 <= SQUARE[0] + 40 and x2 >= SQUARE[2] - 40 and y1 <= SQUARE[1] + 40 and y2 >= SQUARE[3] - 40
    assert new.snapshot is not None and new.snapshot[:2] == b"\xff\xd8" and new.snapshot[-2:] == b"\xff\xd9"
    assert out[1].snapshot is None
    # Once the square stopped moving, the detector ran on crops and periodic full frames, not on every frame whole.
    assert worker.counters["detector_runs"] < 60
    assert worker.infer_ms > 0


def test_flicker_raises_nothing(tiny_manifest: Path) -> None:
    _, out = run(camera(tiny_manifest), {5, 17, 29, 41, 53})
    assert out == []


def test_zone_tagging(tiny_manifest: Path) -> None:
    cfg = camera(
        tiny_manifest,
        zones={"ridge": [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]], "valley": [[0, 0], [0.4, 0], [0.4, 1]]},
    )
    _, out = run(cfg, set(range(10, 30)))
    assert out and all(o.zones == ["ridge"] for o in out)


def test_masked_area_never_reports(tiny_manifest: Path) -> None:
    cfg = camera(tiny_manifest, masks=[[[0.55, 0.2], [0.95, 0.2], [0.95, 0.7], [0.55, 0.7]]])
    worker, out = run(cfg, set(range(10, 40)))
    assert out == []
    assert worker.counters["masked"] > 0


def test_fire_in_the_drawn_sky_never_reports(tiny_manifest: Path) -> None:
    # The detected box's bottom edge (row 200 of 240) lies in a sky drawn down to 0.9 of the frame: not on the ground.
    worker, out = run(camera(tiny_manifest, sky=[[[0, 0], [1, 0], [1, 0.9], [0, 0.9]]]), set(range(10, 60)))
    assert out == [] and worker.confirmer is not None and worker.confirmer.counters["in_sky"] > 0
    # A sky drawn above it leaves it alone.
    _, out = run(camera(tiny_manifest, sky=[[[0, 0], [1, 0], [1, 0.2], [0, 0.2]]]), set(range(10, 60)))
    assert [o.transition.label for o in out if o.transition.phase == Phase.NEW] == ["fire"]


def test_without_motion_gating_every_frame_is_detected(tiny_manifest: Path) -> None:
    worker, out = run(camera(tiny_manifest, motion={"enabled": False}), set(range(10, 30)), frames=40)
    assert worker.counters["detector_runs"] == 40
    assert [o.transition.phase for o in out] == [Phase.NEW, Phase.END]


class _Clock:
    """A clock that moves only when the detector runs: each inference 'costs' ``per_call`` seconds."""

    def __init__(self, per_call: float) -> None:
        self.now = 0.0
        self.per_call = per_call

    def __call__(self) -> float:
        return self.now


def _busy_frames(i: int) -> np.ndarray:
    """A 1280x720 view with movement all over it (more moving blobs than crops allowed): whole frame + tiles."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    rng = np.random.default_rng(i)  # blobs in new places every frame: rain, leaves
    for x, y in zip(rng.integers(0, 1240, 8), rng.integers(0, 680, 8), strict=True):
        frame[y : y + 40, x : x + 40] = 230
    return frame


def _sweep_run(tiny_manifest: Path, per_call: float, frames: int = 20) -> tuple[CameraWorker, list[int]]:
    config = camera(tiny_manifest, motion={"tiles_per_frame": 2, "full_frame_every_s": 100.0}, fps=5.0)
    clock = _Clock(per_call)
    detector = load_detector(config)
    inner = detector.detect

    def detect(frame: np.ndarray, roi: Any = None) -> np.ndarray:
        clock.now += clock.per_call
        return inner(frame, roi)

    detector.detect = detect  # type: ignore[method-assign]
    worker = CameraWorker(config, detector, clock=clock)
    calls = []
    for i in range(frames):
        before = clock.now
        worker.process(Frame(_busy_frames(i), 1000.0 + i / 5, i / 5, i))
        calls.append(round((clock.now - before) / per_call))
    return worker, calls


def test_a_node_with_headroom_sweeps_moving_tiles_every_frame(tiny_manifest: Path) -> None:
    # 3 inferences of 10 ms in a 200 ms frame interval: no shedding.
    worker, calls = _sweep_run(tiny_manifest, 0.010)
    assert worker.counters["shed"] == 0
    assert calls[3:] == [3] * (len(calls) - 3)  # the whole frame and two moving tiles, every frame


def test_a_node_behind_sheds_the_tiles_not_the_frames(tiny_manifest: Path) -> None:
    # 3 inferences of 60 ms (180 ms) in a 200 ms interval is over the 70 % shedding line: tiles are skipped until the
    # average comes back under it, then swept again; the whole frame runs on every frame either way.
    worker, calls = _sweep_run(tiny_manifest, 0.060)
    assert worker.counters["processed"] == 20
    assert worker.counters["shed"] > 0
    assert all(c >= 1 for c in calls[3:])
    assert 1 in calls[3:] and 3 in calls[3:]  # shed frames cost one inference; the sweep comes back with headroom
    assert worker.counters["shed"] == calls[1:].count(1)
