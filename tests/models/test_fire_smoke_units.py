"""The model's data preparation, targets and evaluation decoder on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pytest

from fire_smoke import dataset, evaluate


class _Box:
    def __init__(self, label: str, x1: float, y1: float, x2: float, y2: float) -> None:
        self.label, self.x1, self.y1, self.x2, self.y2 = label, x1, y1, x2, y2


def test_letterbox_pads_grey_and_maps_boxes_alongside() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[100:200, 300:400] = (0, 0, 255)  # red in BGR
    img, lb = dataset.letterbox(frame)
    assert img.shape == (192, 192, 3)
    assert (lb.scale, lb.pad_x, lb.pad_y) == (pytest.approx(0.3), 0, 42)
    assert (img[:42] == dataset.PAD_VALUE).all() and (img[-42:] == dataset.PAD_VALUE).all()
    rows = dataset.map_boxes([_Box("fire", 300, 100, 400, 200), _Box("smoke", 10, 10, 12, 12)], lb)
    assert rows.shape == (1, 5)  # the 2-pixel smoke shrinks below one model pixel and is dropped
    cls, x1, y1, x2, y2 = rows[0]
    assert (cls, x1, y1, x2, y2) == (0, pytest.approx(90), pytest.approx(72), pytest.approx(120), pytest.approx(102))
    centre = img[int((y1 + y2) / 2), int((x1 + x2) / 2)]
    assert tuple(centre) == (255, 0, 0)  # RGB now


def test_random_crop_clips_boxes_and_drops_mostly_hidden_ones() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    rng = np.random.default_rng(3)
    for _ in range(20):
        img, rows = dataset.random_crop(frame, [_Box("flood", 0, 200, 640, 360)], rng)
        assert img.shape == (192, 192, 3)
        assert len(rows) <= 1
        if len(rows):
            assert rows[0, 1] >= 0 and rows[0, 3] <= 192 and rows[0, 2] >= 0 and rows[0, 4] <= 192


def test_targets_mark_cells_inside_a_box_and_around_a_tiny_one() -> None:
    network = pytest.importorskip("fire_smoke.network")
    big = [0, 0, 0, 48, 32]  # fire over the cells centred at x 8, 24, 40 and y 8, 24
    tiny = [1, 100, 100, 104, 104]  # smoke smaller than a cell: the cells centred within a stride of (102, 102)
    t = network.targets([np.asarray([big, tiny], np.float32)])[0]
    fire = np.flatnonzero(t[:, 0])
    assert sorted(fire) == [0, 1, 2, 12, 13, 14]
    assert list(np.flatnonzero(t[:, 1])) == [5 * 12 + 5, 5 * 12 + 6, 6 * 12 + 5, 6 * 12 + 6]
    assert (t[fire, 3:7] == big[1:]).all() and (t[fire, 7] == 1).all()
    assert t[:, 7].sum() == 10


def test_targets_regress_the_smallest_of_overlapping_boxes() -> None:
    network = pytest.importorskip("fire_smoke.network")
    t = network.targets([np.asarray([[2, 0, 0, 192, 192], [0, 16, 16, 48, 48]], np.float32)])[0]
    cell = 1 * 12 + 1
    assert t[cell, 0] == 1 and t[cell, 2] == 1
    assert list(t[cell, 3:7]) == [16, 16, 48, 48]
    assert list(t[0, 3:7]) == [0, 0, 192, 192]


def _output(cells: list[tuple[float, float, float, float, int, float]]) -> np.ndarray:
    out = np.zeros((1, 7, len(cells)), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(cells):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def test_decode_thresholds_and_suppresses_overlaps_per_class() -> None:
    out = _output(
        [
            (50, 50, 20, 20, 0, 0.9),
            (52, 50, 20, 20, 0, 0.8),  # same fire, lower score: suppressed
            (52, 50, 20, 20, 1, 0.7),  # smoke at the same place: another class, kept
            (150, 150, 20, 20, 2, 0.3),  # below the threshold
        ]
    )
    dets = evaluate.decode(out, score=0.5)
    assert dets[:, 0].tolist() == [0, 1]
    assert dets[0, 1] == pytest.approx(0.9)
    assert dets[0, 2:].tolist() == [40, 40, 60, 60]


def test_score_frames_counts_hits_misses_and_false_detections() -> None:
    frames = np.stack(
        [
            _output([(50, 50, 20, 20, 0, 0.9), (150, 150, 20, 20, 1, 0.9)]),  # fire found; smoke where none is
            _output([(10, 10, 4, 4, 0, 0.1), (10, 10, 4, 4, 2, 0.2)]),  # nothing detected: the flood is missed
        ]
    )
    truths = [np.asarray([[0, 42, 42, 62, 62]], np.float32), np.asarray([[2, 0, 100, 192, 150]], np.float32)]
    m = evaluate.score_frames(frames, truths)
    assert (m["fire"]["precision"], m["fire"]["recall"]) == (1.0, 1.0)
    assert (m["smoke"]["precision"], m["smoke"]["detections"]) == (0.0, 1)
    assert (m["flood"]["recall"], m["flood"]["truth_boxes"]) == (0.0, 1)
    quiet = evaluate.false_per_hour(frames, video_s=1.0)
    assert quiet["false_detections"] == 2 and quiet["frames_with_false_detections"] == 1
    assert quiet["false_detections_per_hour"] == 7200.0


def test_hard_negatives_are_event_free_look_alike_clips_with_their_own_seeds() -> None:
    plans = dataset.hard_negative_plan(12, seconds=10.0, fps=1.0, crops=0.6)
    seeds = [p.spec["seed"] for p in plans]
    assert seeds == list(range(dataset.HARD_SEED_BASE, dataset.HARD_SEED_BASE + 12))
    assert min(seeds) >= dataset.TRAIN_SEED_BASE and max(seeds) < dataset.EVAL_SEED_BASE
    assert all(p.spec["events"] == [] and {"clouds", "trees"} <= set(p.spec["distractors"]) for p in plans)
    assert {p.spec["scene"] for p in plans} == set(dataset.SCENES)
    assert all(p.crops == 0.6 and "hard_negative" in p.tags for p in plans)
    # Adding hard negatives leaves the ordinary clips of a budget as they were: none of their seeds is shared.
    ordinary = dataset.clip_plan(600, dataset.TRAIN_SEED_BASE, 10.0, 1.0, 1, 0.3)
    assert not {p.spec["seed"] for p in ordinary} & set(seeds)
