"""The scene's open sky as an installer would draw it: above every ridge, covering nearly all of the sky."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.camera.motion import polygon_mask
from iocgw.cli import main
from simulators.camera import preset, scenes
from simulators.camera.sky import sky_polygon
from wire.nodeconfig.camera import CameraConfig


@pytest.mark.parametrize("name", ["forest_distractors", "river_distractors", "dam_distractors"])
@pytest.mark.parametrize("seed", [1, 7])
def test_sky_polygon_stays_off_the_land_and_covers_the_sky(name: str, seed: int) -> None:
    spec = preset(name, seed=seed)
    poly = sky_polygon(spec)
    sky = polygon_mask([poly], spec.width, spec.height) > 0
    land = scenes.build(spec.scene, spec.width, spec.height, spec.seed).land_mask > 0
    assert not (sky & land).any(), "the drawn sky reaches into the land"
    assert (sky & ~land).sum() >= 0.85 * (~land).sum()
    # It is a valid camera setting as it stands.
    cam = CameraConfig.model_validate({"id": "c", "source": "x.avi", "model": "m.yaml", "sky": [poly]})
    assert len(cam.sky[0]) == len(poly)


def test_sky_command_prints_the_config_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "camera", "sky", "--preset", "forest_fire_day", "--seed", "3"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["clip"] == "forest_fire_day"
    assert row["sky"] == [[list(p) for p in sky_polygon(preset("forest_fire_day", seed=3))]]
    assert np.array(row["sky"][0]).max() <= 1.0
    assert main(["sim", "camera", "sky"]) == 2
