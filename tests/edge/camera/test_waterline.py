"""The water-line rule: flood as water climbing into the band above the alarm line, on simulated river and dam views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.camera.capture import Frame
from edge.camera.confirm import Phase
from edge.camera.pipeline import CameraWorker, load_detector
from edge.camera.waterline import Waterline
from simulators.camera import presets
from simulators.camera.render import iter_frames
from wire.nodeconfig.camera import CameraConfig, WaterlineSettings

# The bands a technician would draw on these views: just above the painted alarm line, a few rows high.
RIVER_BAND = [(0.0, 0.495), (1.0, 0.495), (1.0, 0.55), (0.0, 0.55)]
DAM_BAND = [(0.0, 0.465), (1.0, 0.465), (1.0, 0.52), (0.0, 0.52)]


def replay(name: str, band: list, tiny_manifest: Path, seconds: float) -> tuple[list, float | None]:
    spec = presets.preset(name, seconds=seconds)
    # A model that never sees flood on these views (the tiny one finds red and blue squares only): events come from
    # the rule alone.
    config = CameraConfig.model_validate(
        {
            "id": "river-1",
            "source": "x.avi",
            "model": str(tiny_manifest),
            "report": ["flood"],
            "waterline": {"band": band},
            "snapshot": {"enabled": False},
        }
    )
    worker = CameraWorker(config, load_detector(config))
    events, onset = [], None
    for i, (image, truth) in enumerate(iter_frames(spec)):
        t = i / spec.fps
        if onset is None and any(b.label == "flood" for b in truth.boxes):
            onset = t
        events += [(t, o) for o in worker.process(Frame(image, 1000.0 + t, t, i))]
    return events, onset


@pytest.mark.parametrize(("name", "band"), [("river_flood", RIVER_BAND), ("river_flood_night", RIVER_BAND)])
def test_water_over_the_alarm_line_raises_one_flood_event_within_seconds(
    name: str, band: list, tiny_manifest: Path
) -> None:
    events, onset = replay(name, band, tiny_manifest, seconds=45.0)
    assert onset is not None
    news = [(t, o) for t, o in events if o.transition.phase is Phase.NEW]
    assert len(news) == 1 and news[0][1].transition.label == "flood"
    t, out = news[0]
    assert 0 <= t - onset <= 4.0  # the water is 4 px over the line at the onset; the rule wants a sixth of the band
    x1, y1, x2, y2 = out.transition.box
    assert (x1, x2) == (0, 640) and y2 == pytest.approx(0.55 * 359, abs=2) and y1 < y2 - 3


def test_a_river_rising_below_the_line_raises_nothing(tiny_manifest: Path) -> None:
    events, onset = replay("river_rise_below_alarm", RIVER_BAND, tiny_manifest, seconds=60.0)
    assert onset is None and events == []


def test_the_dam_face_floods_past_its_line(tiny_manifest: Path) -> None:
    events, onset = replay("dam_flood", DAM_BAND, tiny_manifest, seconds=55.0)
    assert onset is not None
    news = [t for t, o in events if o.transition.phase is Phase.NEW]
    assert len(news) == 1 and 0 <= news[0] - onset <= 4.0


def band_frame(level_rows: int, shade: float = 1.0) -> np.ndarray:
    """A 100 x 100 view: a textured dry bank above row 60; water (flat blue-grey) ``level_rows`` above it."""
    rng = np.random.default_rng(0)
    img = (rng.integers(120, 200, (100, 100, 3))).astype(np.float32)
    img[60 - level_rows : 100] = (115, 105, 75)
    return (img * shade).clip(0, 255).astype(np.uint8)


def test_rule_reads_the_water_height_and_relearns_after_a_band_wide_shadow() -> None:
    wl = Waterline(WaterlineSettings(band=[(0, 0.4), (1, 0.4), (1, 0.6), (0, 0.6)], learn_s=1.0), 2)
    t = 0.0
    for _ in range(6):  # learn the dry band
        assert len(wl.update(band_frame(0), t)) == 0
        t += 0.2
    # A shadow over the whole view at once (far faster than water rises), then gone again: each change is light,
    # not water, and the band's dry look is learnt again; no flood row at any time.
    for shade in [0.4] * 7 + [1.0] * 7:
        assert len(wl.update(band_frame(0, shade=shade), t)) == 0
        t += 0.2
    assert wl.counters["relearned"] == 2 and wl.wet_share == 0.0
    # The water climbs a row a frame: once it fills min_rise (0.15) of the band, a flood row up to the water's top.
    # (The blur smears the water line over a second row: one row of water reads as two.)
    rows = []
    for level in range(1, 16):
        rows.append(wl.update(band_frame(level), t))
        t += 0.2
    assert len(rows[0]) == 0 and all(len(r) == 1 for r in rows[2:])
    x1, y1, x2, y2, score, cls = rows[-1][0]
    assert (x1, x2, cls) == (0, 100, 2) and y2 == pytest.approx(60, abs=1) and y1 == pytest.approx(45, abs=2)
    assert score > 0.9
    assert wl.wet_share == pytest.approx(15 / 20, abs=0.1)
