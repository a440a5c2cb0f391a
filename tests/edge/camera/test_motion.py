"""Motion gating: still frames, a moving object, whole-frame changes, masks, crop planning."""

from __future__ import annotations

import numpy as np

from edge.camera.motion import MotionDetector, merge_boxes, plan_crops, tile_grid
from wire.nodeconfig.camera import MotionSettings

W, H = 640, 360


def scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 120, (H // 8, W // 8, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(base, np.ones((8, 8, 1), dtype=np.uint8)))


def with_square(frame: np.ndarray, x: int, y: int, size: int = 40) -> np.ndarray:
    out = frame.copy()
    out[y : y + size, x : x + size] = (240, 240, 240)
    return out


def test_still_frames_have_no_regions() -> None:
    md = MotionDetector(MotionSettings())
    bg = scene()
    results = [md.update(bg) for _ in range(20)]
    assert all(r.regions == [] for r in results)


def test_moving_object_gives_a_region_around_it() -> None:
    md = MotionDetector(MotionSettings())
    bg = scene()
    for _ in range(5):
        md.update(bg)
    r = md.update(with_square(bg, 300, 150))
    assert len(r.regions) == 1
    x1, y1, x2, y2 = r.regions[0]
    assert x1 <= 300 and y1 <= 150 and x2 >= 340 and y2 >= 190  # covers the square
    assert (x2 - x1) < 140 and (y2 - y1) < 140  # and not much more


def test_brightness_jump_recalibrates_instead_of_a_storm() -> None:
    md = MotionDetector(MotionSettings())
    bg = scene()
    for _ in range(5):
        md.update(bg)
    flash = np.clip(bg.astype(np.int16) + 90, 0, 255).astype(np.uint8)  # lightning / IR switch
    r = md.update(flash)
    assert r.recalibrated and r.regions == []
    after = [md.update(flash) for _ in range(10)]
    assert all(a.regions == [] for a in after)
    assert md.recalibrations == 1
    # Motion detection works again on the new background.
    assert md.update(with_square(flash, 100, 100)).regions


def test_masked_motion_is_ignored() -> None:
    md = MotionDetector(MotionSettings(), masks=[[(0.4, 0.3), (0.7, 0.3), (0.7, 0.7), (0.4, 0.7)]])
    bg = scene()
    for _ in range(3):
        md.update(bg)
    assert md.update(with_square(bg, 300, 150)).regions == []  # inside the mask
    assert md.update(with_square(bg, 40, 40)).regions  # outside it


def test_plan_crops_merges_and_fits_the_model_aspect() -> None:
    crops = plan_crops([(100, 100, 120, 120), (125, 100, 140, 130)], W, H, 192, 192, pad=0.25, max_regions=3)
    assert crops is not None and len(crops) == 1
    x1, y1, x2, y2 = crops[0]
    assert x2 - x1 == y2 - y1 == 192  # at least the model's input, square like it
    assert x1 <= 100 and x2 >= 140 and y1 >= 0 and y2 <= H


def test_plan_crops_whole_frame_when_too_many_or_too_big() -> None:
    spread = [(x, y, x + 10, y + 10) for x, y in [(10, 10), (600, 10), (10, 330), (600, 330)]]
    assert plan_crops(spread, W, H, 192, 192, pad=0.0, max_regions=3) is None
    assert plan_crops([(0, 0, 600, 300)], W, H, 192, 192, pad=0.0, max_regions=3) is None
    assert plan_crops([], W, H, 192, 192, pad=0.0, max_regions=3) == []


def test_merge_boxes() -> None:
    assert merge_boxes([(0, 0, 10, 10), (10, 10, 20, 20), (50, 50, 60, 60)]) == [(0, 0, 20, 20), (50, 50, 60, 60)]


def test_tile_grid_covers_the_frame_with_overlap() -> None:
    tiles = tile_grid(W, H, 192, 192)
    assert len(tiles) == 8  # 4 across, 2 down
    assert all(t[2] - t[0] == 192 and t[3] - t[1] == 192 for t in tiles)
    cover = np.zeros((H, W), bool)
    for x1, y1, x2, y2 in tiles:
        cover[y1:y2, x1:x2] = True
    assert cover.all()
    assert tiles[1][0] < tiles[0][2]  # neighbours overlap, so an object on a seam is whole in one of them
    assert tile_grid(100, 80, 192, 192) == [(0, 0, 100, 80)]
