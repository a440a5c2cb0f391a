"""What is new in a fixed view: a detection counts only where its score rises well above its place's usual score."""

from __future__ import annotations

import numpy as np

from edge.camera.novelty import Novelty
from wire.nodeconfig.camera import NoveltySettings

HAZE = [0, 100, 400, 300, 0.9, 1]  # the detector calls this hazy valley smoke at 0.9, every frame
PLUME = [600, 150, 660, 230, 0.75, 1]
FIRE_AT_PLUME = [600, 150, 660, 230, 0.75, 0]


def rows(*r: list[float]) -> np.ndarray:
    return np.asarray(r, np.float32).reshape(-1, 6)


def test_nothing_counts_while_the_view_is_learnt_then_only_what_is_new() -> None:
    nov = Novelty(NoveltySettings(enabled=True, learn_s=120, memory_s=1800, margin=0.3), 2)
    for t in (0, 60, 120):  # three frames a minute apart: the usual scores
        assert nov.new(rows(HAZE), 800, 600, float(t)).tolist() == [False]
    assert nov._usual is not None
    # Haze is usual; a plume where the detector said nothing counts, and so does another label at the haze's place.
    assert nov.new(rows(HAZE, PLUME), 800, 600, 180.0).tolist() == [False, True]
    haze_fire = [0, 100, 400, 300, 0.8, 0]
    assert nov.new(rows(HAZE, haze_fire), 800, 600, 240.0).tolist() == [False, True]
    assert nov.counters["usual"] == 3 + 2
    assert len(nov.filter(rows(HAZE, PLUME), 800, 600, 300.0)) == 1


def test_a_score_only_a_little_above_the_usual_is_not_new() -> None:
    nov = Novelty(NoveltySettings(enabled=True, learn_s=0, margin=0.3), 2)
    weak = [600, 150, 660, 230, 0.5, 1]
    nov.new(rows(weak), 800, 600, 0.0)
    assert nov.new(rows(PLUME), 800, 600, 60.0).tolist() == [False]  # 0.75 - 0.5 < 0.3
    assert nov.new(rows([600, 150, 660, 230, 0.95, 1]), 800, 600, 120.0).tolist() == [True]


def test_a_detection_that_stays_becomes_usual_over_the_memory() -> None:
    nov = Novelty(NoveltySettings(enabled=True, learn_s=0, memory_s=600, margin=0.3), 2)
    nov.new(rows(), 800, 600, 0.0)
    first_usual = []
    for minute in range(1, 40):
        first_usual.append(bool(nov.new(rows(PLUME), 800, 600, minute * 60.0)[0]))
    # New for a good while (a plume is reported), then usual (a white rock found after the camera was installed).
    assert all(first_usual[:5]) and not any(first_usual[-5:])


def test_a_wide_haze_box_does_not_claim_the_place_of_a_plume_at_its_edge() -> None:
    nov = Novelty(NoveltySettings(enabled=True, learn_s=0, cell=32, margin=0.3), 2)
    wide = [0, 0, 800, 300, 0.9, 1]  # its middle half is x 200-600, y 75-225
    nov.new(rows(wide), 800, 600, 0.0)
    edge_plume = [700, 200, 760, 280, 0.75, 1]
    assert nov.new(rows(wide, edge_plume), 800, 600, 60.0).tolist() == [False, True]
