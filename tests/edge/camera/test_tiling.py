"""Tiled inference: the tile grid, seam merging, motion gating, and the worker finding what a shrunk frame hides."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.camera.capture import Frame
from edge.camera.confirm import Phase
from edge.camera.motion import overlapping_tiles
from edge.camera.pipeline import CameraWorker, load_detector
from edge.camera.tiling import TilePlanner, merge_seams
from wire.nodeconfig.camera import CameraConfig, TilingSettings

W, H = 640, 480


@pytest.mark.parametrize(
    ("w", "h", "tile", "overlap"), [(3072, 2048, 320, 0.2), (640, 480, 64, 0.0), (100, 50, 64, 0.5)]
)
def test_tiles_cover_the_frame_with_at_least_the_overlap(w: int, h: int, tile: int, overlap: float) -> None:
    tiles = overlapping_tiles(w, h, tile, overlap)
    covered = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in tiles:
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
        assert x2 - x1 == min(tile, w) and y2 - y1 == min(tile, h)
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    for a, b in itertools.pairwise(xs):
        assert tile - (b - a) >= overlap * tile - 1  # neighbours share at least the overlap (1 px of rounding)


def test_a_tower_frame_takes_a_hundred_native_tiles() -> None:
    # 3072 x 2048 at 320 px with 20 % overlap: 12 columns x 8 rows.
    assert len(overlapping_tiles(3072, 2048, 320, 0.2)) == 12 * 8


def row(x1: float, y1: float, x2: float, y2: float, score: float = 0.9, cls: int = 0) -> list[float]:
    return [x1, y1, x2, y2, score, cls]


def test_a_box_cut_by_a_seam_comes_back_whole() -> None:
    left, right = (0, 0, 64, 64), (64, 0, 128, 64)
    parts = [
        (left, np.array([row(40, 10, 64, 30, 0.7)], np.float32)),
        (right, np.array([row(64, 12, 90, 28)], np.float32)),
    ]
    out = merge_seams(parts, 128, 64, gap=2, iou_threshold=0.45)
    assert out.tolist() == [pytest.approx(row(40, 10, 90, 30, 0.9))]


def test_seams_keep_separate_objects_and_labels_apart() -> None:
    left, right = (0, 0, 64, 64), (64, 0, 128, 64)
    parts = [
        # Two fires far from the seam: separate objects even though they are in neighbouring tiles.
        (left, np.array([row(5, 5, 20, 20), row(50, 40, 64, 50, cls=0)], np.float32)),
        # Across the seam from the second fire, but smoke: a different object.
        (right, np.array([row(100, 5, 120, 20), row(64, 40, 80, 50, cls=1)], np.float32)),
    ]
    out = merge_seams(parts, 128, 64, gap=2, iou_threshold=0.45)
    assert len(out) == 4


def test_a_box_at_the_frame_border_is_not_cut() -> None:
    # Both boxes touch only the frame's own edges (x = 0 and x = 128): nothing to merge even though they are close.
    a, b = (0, 0, 70, 64), (58, 0, 128, 64)
    parts = [(a, np.array([row(0, 0, 30, 10)], np.float32)), (b, np.array([row(100, 0, 128, 10)], np.float32))]
    assert len(merge_seams(parts, 128, 64, gap=2, iou_threshold=0.45)) == 2


def test_planner_sweeps_then_follows_motion_and_tracks() -> None:
    planner = TilePlanner(TilingSettings(enabled=True, tile=100, overlap=0.0, sweep_s=10), 64, 64)
    assert planner.side == 100
    every = planner.tiles(400, 200)
    assert len(every) == 8
    assert planner.plan(400, 200, 0.0, [], []) == every  # the first frame is a sweep
    assert planner.plan(400, 200, 1.0, [], []) == []  # nothing moves, nothing held
    assert planner.plan(400, 200, 2.0, [(150, 20, 160, 30)], []) == [(100, 0, 200, 100)]
    assert planner.plan(400, 200, 3.0, [], [(310, 150, 320, 160)]) == [(300, 100, 400, 200)]
    assert planner.plan(400, 200, 10.0, [], []) == every  # the sweep is due again
    assert planner.counters == {"tiles": 18, "sweeps": 2}


def test_without_gating_every_tile_runs_every_frame() -> None:
    planner = TilePlanner(TilingSettings(enabled=True, motion_gate=False), 64, 64)
    assert planner.side == 64
    for t in range(3):
        # 64 px tiles overlapping by a fifth start every 51 px or less: 13 columns x 10 rows.
        assert len(planner.plan(640, 480, float(t), [], [])) == len(planner.tiles(640, 480)) == 13 * 10


def frame(i: int, square: tuple[int, int, int, int] | None) -> np.ndarray:
    rng = np.random.default_rng(i)
    img = (np.full((H, W, 3), 100, np.int16) + rng.integers(-4, 5, (H, W, 3))).clip(0, 255).astype(np.uint8)
    if square:
        x1, y1, x2, y2 = square
        img[y1:y2, x1:x2] = (0, 0, 255)
    return img


def camera(tiny_manifest: Path, **over: Any) -> CameraConfig:
    doc = {
        "id": "tower-1",
        "source": "x.avi",
        "model": str(tiny_manifest),
        "confirm": {"window": 5, "min_hits": 3, "needs_motion": []},
        "snapshot": {"enabled": False},
        **over,
    }
    return CameraConfig.model_validate(doc)


def run(config: CameraConfig, square: tuple[int, int, int, int], frames: int = 12) -> tuple[CameraWorker, list]:
    worker = CameraWorker(config, load_detector(config))
    out = []
    for i in range(frames):
        out += worker.process(Frame(frame(i, square if i >= 2 else None), 1000.0 + i, float(i), i))
    return worker, out


SMALL = (300, 200, 332, 232)  # 32 px: one tenth of a model cell once the 640 px frame is shrunk to 64


def test_tiles_find_a_small_fire_the_shrunk_frame_misses(tiny_manifest: Path) -> None:
    _, whole = run(camera(tiny_manifest, motion={"enabled": False}), SMALL)
    assert whole == []
    worker, tiled = run(camera(tiny_manifest, tiling={"enabled": True, "sweep_s": 0}), SMALL)
    assert [o.transition.phase for o in tiled] == [Phase.NEW]
    x1, y1, x2, y2 = tiled[0].transition.box
    assert SMALL[0] - 16 <= x1 and x2 <= SMALL[2] + 16 and SMALL[1] - 16 <= y1 and y2 <= SMALL[3] + 16
    assert worker.tiler is not None
    assert worker.tiler.counters["tiles"] == 12 * 130  # 13 x 10 native tiles on every frame
    assert worker.counters["detector_runs"] == 12


def test_a_fire_on_a_seam_is_one_event_with_one_box(tiny_manifest: Path) -> None:
    # No overlap: columns start every 64 px (rows every 59.4: 8 rows spread over 480), so a square over x = 128 is
    # cut in two, one 16 px model cell on each side.
    across = (112, 75, 144, 91)
    cfg = camera(tiny_manifest, tiling={"enabled": True, "overlap": 0.0, "sweep_s": 0, "whole_frame": False})
    _, out = run(cfg, across)
    assert [o.transition.phase for o in out] == [Phase.NEW]
    assert out[0].transition.box == pytest.approx(across, abs=1)


def test_motion_gating_skips_still_tiles_between_sweeps(tiny_manifest: Path) -> None:
    cfg = camera(tiny_manifest, tiling={"enabled": True, "sweep_s": 5})
    worker, out = run(cfg, SMALL)
    assert [o.transition.phase for o in out] == [Phase.NEW]
    assert worker.tiler is not None
    # Sweeps at t = 0, 5, 10 (130 tiles each); in between only the few tiles around the square (motion, its track).
    assert worker.tiler.counters["sweeps"] == 3
    assert 3 * 130 < worker.tiler.counters["tiles"] < 3 * 130 + 9 * 9
