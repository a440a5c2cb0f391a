"""Rendering: determinism, ground truth rules, distractor-only clips, night and shake."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulators.camera import ClipSpec, Renderer, SceneEvent, iter_frames, preset, preset_names
from simulators.camera.render import FLOOD_MIN_PX

SMALL = {"width": 320, "height": 180, "fps": 2.0}


def _spec(**kw: object) -> ClipSpec:
    return ClipSpec.model_validate({**SMALL, **kw})


def test_same_spec_gives_the_same_frames_bit_for_bit() -> None:
    spec = _spec(
        scene="river",
        seconds=6.0,
        rain=True,
        shake=2.0,
        events=[{"kind": "fire", "start_s": 1.0, "x": 0.5, "y": 0.6, "size": 0.1}],
        distractors=["vehicles", "birds", "trees", "glare", "clouds", "fog", "lightning"],
    )
    first = list(iter_frames(spec))
    second = list(iter_frames(spec))
    assert len(first) == spec.frame_count == 12
    for (fa, ta), (fb, tb) in zip(first, second, strict=True):
        assert fa.dtype == np.uint8 and fa.shape == (180, 320, 3)
        assert np.array_equal(fa, fb)
        assert ta == tb
    # Random access gives the same frame as iterating, so the server can loop and seek.
    frame, truth = Renderer(spec).render(7)
    assert np.array_equal(frame, first[7][0]) and truth == first[7][1]
    other, _ = Renderer(spec.model_copy(update={"seed": 2})).render(7)
    assert not np.array_equal(other, first[7][0])


def test_frames_move_between_frames() -> None:
    spec = _spec(scene="dam", seconds=2.0, distractors=["vehicles", "clouds"])
    frames = [f for f, _ in iter_frames(spec)]
    assert any(np.abs(a.astype(int) - b).mean() > 0.5 for a, b in itertools.pairwise(frames))


@pytest.mark.parametrize("kind", ["fire", "smoke"])
def test_boxes_only_while_the_event_is_visible_and_inside_the_frame(kind: str) -> None:
    start, end = 3.0, 12.0
    spec = _spec(
        scene="forest",
        seconds=15.0,
        shake=3.0,
        events=[{"kind": kind, "start_s": start, "end_s": end, "x": 0.5, "y": 0.6, "size": 0.3}],
        distractors=["trees", "clouds", "birds"],
    )
    seen = []
    for _frame, truth in iter_frames(spec):
        for box in truth.boxes:
            assert 0 <= box.x1 < box.x2 <= spec.width and 0 <= box.y1 < box.y2 <= spec.height
        if truth.t_s < start or truth.t_s >= end:
            assert truth.boxes == [], truth
        else:
            seen.append(truth)
    labels = {b.label for t in seen for b in t.boxes}
    assert kind in labels
    if kind == "fire":
        assert "smoke" in labels  # fire gives off smoke unless told not to
    # The plume has to grow before it counts as visible; flames show at once.
    first_smoke = min(t.t_s for t in seen if any(b.label == "smoke" for b in t.boxes))
    assert first_smoke > start
    smoke_boxes = [
        next(b for b in t.boxes if b.label == "smoke") for t in seen if any(b.label == "smoke" for b in t.boxes)
    ]
    assert (smoke_boxes[-1].y2 - smoke_boxes[-1].y1) > (smoke_boxes[0].y2 - smoke_boxes[0].y1)


def test_fire_box_covers_bright_warm_pixels() -> None:
    spec = _spec(scene="forest", seconds=4.0, events=[{"kind": "fire", "x": 0.5, "y": 0.62, "size": 0.15}])
    frame, truth = Renderer(spec).render(spec.frame_count - 1)
    box = next(b for b in truth.boxes if b.label == "fire")
    inside = frame[box.y1 : box.y2, box.x1 : box.x2].astype(int)
    warm = (inside[:, :, 2] > 200) & (inside[:, :, 2] > inside[:, :, 0] + 80)
    assert warm.mean() > 0.15
    outside = np.ones(frame.shape[:2], bool)
    outside[box.y1 : box.y2, box.x1 : box.x2] = False
    rest = frame.astype(int)[outside]
    assert ((rest[:, 2] > 200) & (rest[:, 2] > rest[:, 0] + 80)).mean() < 0.01


def test_night_is_grey_and_dark_but_flames_stay_bright() -> None:
    spec = _spec(
        scene="forest", seconds=4.0, time_of_day="night", events=[{"kind": "fire", "x": 0.5, "y": 0.6, "size": 0.15}]
    )
    frame, truth = Renderer(spec).render(spec.frame_count - 1)
    chroma = np.abs(frame[:, :, 2].astype(int) - frame[:, :, 0]).mean()
    assert chroma < 6.0
    assert frame.mean() < 80
    box = next(b for b in truth.boxes if b.label == "fire")
    assert frame[box.y1 : box.y2, box.x1 : box.x2].max() > 230


@pytest.mark.parametrize("scene", ["river", "dam"])
def test_flood_box_only_while_water_is_above_the_alarm_line(scene: str) -> None:
    spec = _spec(scene=scene, seconds=20.0, events=[SceneEvent(kind="water_rise", y=0.4, start_s=2.0, end_s=18.0)])
    renderer = Renderer(spec)
    alarm = renderer.scene.water.alarm_y  # type: ignore[union-attr]
    flooded = []
    for index in range(spec.frame_count):
        _, truth = renderer.render(index)
        level = renderer.water_level(truth.t_s)
        floods = [b for b in truth.boxes if b.label == "flood"]
        if level is not None and alarm - level >= FLOOD_MIN_PX:
            assert len(floods) == 1
            assert floods[0].y1 == level and floods[0].y2 == alarm
            flooded.append(truth.t_s)
        else:
            assert floods == []
    assert flooded and flooded[0] > 2.0


def test_water_that_stays_below_the_alarm_line_is_no_flood() -> None:
    spec = preset("river_rise_below_alarm", **SMALL)
    renderer = Renderer(spec)
    for index in range(0, spec.frame_count, 5):
        assert renderer.render(index)[1].boxes == []


@pytest.mark.parametrize("name", preset_names("distractor"))
def test_distractor_presets_have_no_truth_boxes(name: str) -> None:
    spec = preset(name)
    renderer = Renderer(spec)
    # Sample across the whole clip: frames are independent, so spread samples see every distractor.
    for index in np.linspace(0, spec.frame_count - 1, 40).astype(int):
        frame, truth = renderer.render(int(index))
        assert truth.boxes == [], (name, truth)
        assert frame.shape == (spec.height, spec.width, 3)


@pytest.mark.parametrize("time_of_day", ["day", "night"])
def test_every_distractor_and_condition_renders(time_of_day: str) -> None:
    spec = _spec(
        scene="dam",
        seconds=60.0,
        fps=1.0,
        time_of_day=time_of_day,
        rain=True,
        shake=5.0,
        distractors=["vehicles", "birds", "trees", "glare", "clouds", "fog", "lightning", "ir_switch"],
    )
    renderer = Renderer(spec)
    means = []
    for index in range(spec.frame_count):
        frame, truth = renderer.render(index)
        assert frame.shape == (180, 320, 3) and frame.dtype == np.uint8
        assert truth.boxes == []
        means.append(float(frame.mean()))
    # Lightning makes whole-frame jumps in brightness: the motion detector downstream must cope with them.
    assert max(means) - float(np.median(means)) > 40


def test_truth_boxes_follow_the_camera_shake() -> None:
    event = {"kind": "fire", "x": 0.5, "y": 0.6, "size": 0.2, "smoke": False}
    steady = Renderer(_spec(scene="forest", seconds=10.0, events=[event]))
    shaken = Renderer(_spec(scene="forest", seconds=10.0, events=[event], shake=6.0))
    moved = 0
    for index in range(4, 20):
        (a,) = steady.render(index)[1].boxes
        (b,) = shaken.render(index)[1].boxes
        dx, dy = shaken.shake.offset(index / 2.0, index)  # type: ignore[union-attr]
        assert (b.x1, b.y1, b.x2, b.y2) == (a.x1 + dx, a.y1 + dy, a.x2 + dx, a.y2 + dy)
        moved += (dx, dy) != (0, 0)
    assert moved > 5
