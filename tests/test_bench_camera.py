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
