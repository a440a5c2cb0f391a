"""ClipSpec validation and the presets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from simulators.camera import PRESETS, ClipSpec, SceneEvent, preset, preset_names
from simulators.camera.presets import UnknownPreset


def test_water_rise_needs_a_scene_with_water() -> None:
    with pytest.raises(ValidationError, match="water_rise needs a scene with water"):
        ClipSpec(scene="forest", events=[SceneEvent(kind="water_rise", y=0.4)])
    ClipSpec(scene="dam", events=[SceneEvent(kind="water_rise", y=0.4)])


def test_event_must_end_after_it_starts() -> None:
    with pytest.raises(ValidationError, match="end_s"):
        SceneEvent(kind="smoke", start_s=5.0, end_s=5.0)


def test_unknown_fields_and_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        ClipSpec.model_validate({"scene": "forest", "colour": "red"})
    with pytest.raises(ValidationError):
        ClipSpec.model_validate({"scene": "forest", "distractors": ["aliens"]})
    with pytest.raises(ValidationError):
        SceneEvent.model_validate({"kind": "fire", "x": 1.5})


def test_frame_count_follows_seconds_and_fps() -> None:
    assert ClipSpec(seconds=10, fps=5).frame_count == 50
    assert ClipSpec(seconds=1.0, fps=7.5).frame_count == 7


def test_every_preset_builds_and_is_named_after_itself() -> None:
    for name in PRESETS:
        spec = preset(name)
        assert spec.name == name
        assert PRESETS[name].description


def test_presets_cover_the_needed_clips() -> None:
    fire = {preset(n).time_of_day for n in preset_names("fire")}
    assert fire == {"day", "night"}
    assert any(preset(n).rain for n in preset_names("smoke") if "fire" not in PRESETS[n].tags)
    assert {preset(n).scene for n in preset_names("flood")} == {"river", "dam"}
    distractor = [preset(n) for n in preset_names("distractor")]
    assert {s.scene for s in distractor} == {"forest", "river", "dam"}
    assert sum(s.seconds for s in distractor) >= 600.0


def test_preset_overrides_and_unknown_names() -> None:
    assert preset("forest_fire_day", seconds=12.0, seed=9).seconds == 12.0
    with pytest.raises(UnknownPreset, match="forest_fire_day"):
        preset("volcano")
