"""The camera benchmark's cameras are configured as installed ones: each clip's camera gets its scene's sky."""

from __future__ import annotations

from pathlib import Path

from bench import _camera_runs as runs
from bench._camera_clips import clips
from edge.inference import OpenVinoConfig
from simulators.camera import preset
from simulators.camera.sky import sky_polygon


def test_each_clip_camera_gets_the_sky_of_its_own_scene(tmp_path: Path) -> None:
    (clip,) = clips(["dam_distractors"], tmp_path, {"dam_distractors": {"seconds": 1.0, "seed": 4}}, jobs=1)
    cfg = runs.camera_config("bench", clip, Path("models/fire_smoke/manifest.yaml"), OpenVinoConfig())
    expected = sky_polygon(preset("dam_distractors", seconds=1.0, seed=4))
    assert cfg.sky == [expected]
    assert cfg.sky != [sky_polygon(preset("dam_distractors", seconds=1.0, seed=5))]  # each seed its own skyline
    assert runs.camera_config("bench", clip, Path("m.yaml"), OpenVinoConfig(), sky=[]).sky == []


def test_water_views_get_the_band_above_their_alarm_line(tmp_path: Path) -> None:
    from simulators.camera.waterline import alarm_band

    got = clips(
        ["river_distractors", "forest_distractors"],
        tmp_path,
        {n: {"seconds": 1.0} for n in ["river_distractors", "forest_distractors"]},
        jobs=1,
    )
    river, forest = got
    cfg = runs.camera_config("bench", river, Path("models/fire_smoke_real/manifest.yaml"), OpenVinoConfig())
    band = alarm_band(preset("river_distractors", seconds=1.0))
    assert band is not None and cfg.waterline.band == band
    # Its bottom edge sits just above the painted line (row 201 of 360), clear of it.
    assert 0.54 < band[2][1] < 201 / 359
    assert runs.camera_config("bench", forest, Path("m.yaml"), OpenVinoConfig()).waterline.band is None


def test_real_imagery_figures_say_why_they_are_missing_and_judge_the_targets(tmp_path: Path) -> None:
    from bench.camera import real_imagery, real_targets_met

    assert "prepare.py" in real_imagery(tmp_path, None, quick=True)["skipped"]
    assert "no index.json" in real_imagery(tmp_path, tmp_path, quick=True)["skipped"]
    figures = {
        "held_out": {
            "per_label": {"fire": {"precision": 0.93, "recall": 0.9}, "smoke": {"precision": 0.91, "recall": 0.7}},
            "map50": 0.65,
        },
        "negatives": {"share": 0.04},
        "tower_sequences": {
            "a": {"ignition_to_event_s": 120, "false_events_before_ignition": 0},
            "b": {"ignition_to_event_s": None, "false_events_before_ignition": 1},
        },
    }
    assert real_targets_met(figures) == {
        "held_out_recall_at_precision_0_9": False,  # smoke recall 0.7
        "held_out_map50": True,
        "negatives_with_detection_share": True,
        "tower_ignition_to_event_s": False,  # sequence b never raised an event
        "tower_false_events_before_ignition": False,
    }
