"""Confirmation on scripted detection sequences: flicker, sustained, gaps, hysteresis, filters, updates."""

from __future__ import annotations

import numpy as np

from edge.camera.confirm import Confirmer, Phase, Transition
from wire.nodeconfig.camera import ConfirmSettings, LabelRule

LABELS = ["fire", "smoke", "flood"]
W, H = 640, 360
FPS = 5.0
FIRE = (300.0, 150.0, 360.0, 230.0)


def confirmer(**settings: object) -> Confirmer:
    # A short vote (3 of 5, any score, no growth check) keeps the scripts readable; the defaults are checked on their
    # own below.
    base: dict[str, object] = {"window": 5, "min_hits": 3, "confirm_score": 0.0, "must_grow": []}
    return Confirmer(ConfirmSettings(**{**base, **settings}), LABELS, {}, LabelRule(), W, H)


def dets(*rows: tuple[tuple[float, float, float, float], float, int]) -> np.ndarray:
    return np.array([[*box, score, cls] for box, score, cls in rows], dtype=np.float32).reshape(-1, 6)


def play(c: Confirmer, script: list[np.ndarray | None], t0: float = 0.0) -> list[Transition]:
    """One entry per frame at 5 fps; None means the detector did not run on that frame."""
    out: list[Transition] = []
    for i, d in enumerate(script):
        out += c.update(t0 + i / FPS, d if d is not None else np.zeros((0, 6), np.float32), ran=d is not None)
    return out


def fire(score: float = 0.8, box: tuple[float, float, float, float] = FIRE) -> np.ndarray:
    return dets((box, score, 0))


NOTHING = np.zeros((0, 6), np.float32)


def test_flicker_never_raises() -> None:
    c = confirmer()
    script = [fire() if i % 7 == 0 else NOTHING for i in range(100)]  # one frame in seven, for 20 s
    assert play(c, script) == []
    two_close = [fire(), NOTHING, fire(), NOTHING, NOTHING, NOTHING, NOTHING, NOTHING]  # 2 of 5: not enough
    assert play(confirmer(), two_close * 5) == []


def test_sustained_raises_exactly_one_event_then_ends() -> None:
    c = confirmer(end_after_s=4.0, update_every_s=1000)
    out = play(c, [fire()] * 50 + [NOTHING] * 30)
    assert [t.phase for t in out] == [Phase.NEW, Phase.END]
    new, end = out
    assert new.t == 2 / FPS  # confirmed on the third hit
    assert new.start_t == 0.0 and new.label == "fire" and new.box == FIRE
    assert end.t - 49 / FPS >= 4.0  # ended after the hysteresis, counted from the last sighting


def test_gap_shorter_than_hysteresis_is_one_event() -> None:
    c = confirmer(end_after_s=4.0, update_every_s=1000)
    moved = (310.0, 140.0, 380.0, 240.0)  # the fire grew a bit while hidden
    out = play(c, [fire()] * 10 + [NOTHING] * 15 + [fire(box=moved)] * 10 + [NOTHING] * 25)
    assert [t.phase for t in out] == [Phase.NEW, Phase.END]


def test_gap_longer_than_hysteresis_is_two_events() -> None:
    c = confirmer(end_after_s=2.0, update_every_s=1000)
    out = play(c, [fire()] * 10 + [NOTHING] * 15 + [fire()] * 10 + [NOTHING] * 15)
    assert [t.phase for t in out] == [Phase.NEW, Phase.END, Phase.NEW, Phase.END]
    assert out[0].track_id != out[2].track_id


def test_frames_without_a_detector_run_do_not_vote() -> None:
    c = confirmer(end_after_s=60)
    # Hits on runs 1, 3, 5 with frames in between where the detector did not run (no motion): 3 of 3 votes.
    assert [t.phase for t in play(c, [fire(), None, fire(), None, fire()])] == [Phase.NEW]


def test_hysteresis_on_score() -> None:
    c = confirmer(end_after_s=2.0, update_every_s=1000)
    # 0.45 is under min_score 0.5: it never starts a track...
    assert play(c, [fire(0.45)] * 20) == []
    # ...but keeps a confirmed one alive (down to 0.5 * 0.8 = 0.4).
    out = play(c, [fire(0.8)] * 5 + [fire(0.45)] * 30, t0=100)
    assert [t.phase for t in out] == [Phase.NEW]
    out = play(c, [fire(0.35)] * 15, t0=107)
    assert [t.phase for t in out] == [Phase.END]


def test_area_and_ratio_filters() -> None:
    c = Confirmer(
        ConfirmSettings(window=5, min_hits=3, confirm_score=0.0, must_grow=[]),
        LABELS,
        {"fire": LabelRule(min_area=0.01, max_ratio=3.0)},
        LabelRule(),
        W,
        H,
    )
    tiny = (10.0, 10.0, 20.0, 20.0)  # 100 px² of 230400: below 1 %
    wide = (0.0, 100.0, 400.0, 200.0)  # 4:1
    assert play(c, [dets((tiny, 0.9, 0))] * 10 + [dets((wide, 0.9, 0))] * 10) == []
    assert c.counters["filtered"] == 20
    # The same wide box as smoke passes: the default rule allows up to 10:1.
    assert [t.phase for t in play(c, [dets((wide, 0.9, 1))] * 5, t0=50)] == [Phase.NEW]


def test_two_labels_are_two_events() -> None:
    c = confirmer(end_after_s=60)
    smoke_box = (200.0, 20.0, 400.0, 140.0)
    out = play(c, [dets((FIRE, 0.8, 0), (smoke_box, 0.7, 1))] * 6)
    assert sorted(t.label for t in out) == ["fire", "smoke"] and all(t.phase is Phase.NEW for t in out)


def test_update_on_score_rise_and_period() -> None:
    c = confirmer(end_after_s=60, update_every_s=5.0, update_score_rise=0.1)
    out = play(c, [fire(0.6)] * 5 + [fire(0.75)] * 2 + [fire(0.75)] * 30)
    phases = [t.phase for t in out]
    assert phases[0] is Phase.NEW and phases.count(Phase.NEW) == 1
    rise = [t for t in out if t.phase is Phase.UPDATE]
    assert rise[0].score == np.float32(0.75) and rise[0].t == 5 / FPS  # first frame of the rise
    assert len(rise) == 2  # the rise, then one periodic update 5 s later
    assert rise[1].t - rise[0].t >= 5.0
    assert rise[-1].top_score >= 0.75


def test_report_list_limits_labels() -> None:
    c = Confirmer(ConfirmSettings(window=5, min_hits=3), LABELS, {}, LabelRule(), W, H, report=["smoke"])
    assert play(c, [fire()] * 10) == []


def test_finish_ends_confirmed_only() -> None:
    c = confirmer(end_after_s=60)
    play(c, [fire()] * 5 + [dets(((0, 0, 50, 50), 0.9, 2))])
    out = c.finish(99.0)
    assert [(t.phase, t.label) for t in out] == [(Phase.END, "fire")]


def test_a_track_outside_the_crops_looked_at_gets_no_miss() -> None:
    c = confirmer(end_after_s=60)
    elsewhere = [(0, 0, 100, 100)]  # the detector looked only at the top-left corner
    out = []
    for i, d in enumerate([fire(), NOTHING, fire(), NOTHING, fire()]):
        covered = None if len(d) else elsewhere
        out += c.update(i / FPS, d, covered=covered)
    assert [t.phase for t in out] == [Phase.NEW]  # three hits, no misses counted: confirmed
    c2 = confirmer(end_after_s=60)
    out2 = []
    for i, d in enumerate([fire(), NOTHING, fire(), NOTHING, NOTHING, NOTHING, fire()]):
        out2 += c2.update(i / FPS, d)  # whole frame looked at: the misses count, 2 of the last 5 at most
    assert out2 == []


def test_default_vote_needs_eight_strong_sightings_of_ten() -> None:
    c = Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H)
    assert play(c, [fire(0.95)] * 7 + [NOTHING] * 3) == []  # 7 of 10: not yet
    c = Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H)
    assert play(c, [fire(0.6)] * 20) == []  # steady but weak: median under confirm_score 0.8
    c = Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H)
    out = play(c, [fire(0.9)] * 10)
    assert [t.phase for t in out] == [Phase.NEW] and out[0].t == 7 / FPS  # on the eighth sighting: 1.4 s


def test_a_fire_coloured_thing_crossing_the_frame_is_not_a_fire() -> None:
    c = confirmer(end_after_s=60)
    truck = [fire(0.95, (100.0 + 30 * i, 150.0, 150.0 + 30 * i, 180.0)) for i in range(12)]  # 30 px per frame
    assert play(c, truck) == []
    assert play(confirmer(end_after_s=60), [fire(0.95, (300.0 + i, 150.0, 350.0 + i, 180.0)) for i in range(6)])


def test_something_drifting_slowly_across_the_sky_is_not_a_fire() -> None:
    # A bird against the sun's glow: ten strong sightings, drifting 8 px/s, 0.75 of its size before the vote is in.
    drift = [fire(0.95, (472.0 - 1.6 * i, 12.0, 487.0 - 1.6 * i, 24.0)) for i in range(10)]
    assert play(Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H), drift) == []
    # A flickering fire's box jitters about where it started (0.4 of its size on a shaking camera) and still counts.
    jitter = [fire(0.95, (366.0 + 12 * (i % 2), 193.0, 401.0 + 12 * (i % 2), 215.0)) for i in range(10)]
    assert [t.label for t in play(Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H), jitter)] == ["fire"]


def test_fire_never_starts_in_the_sky_but_smoke_may() -> None:
    sky = np.zeros((H, W), np.uint8)
    sky[:100] = 255  # everything above row 100 is open sky

    def with_sky() -> Confirmer:
        return Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H, sky=sky)

    # A sunlit cloud edge the model calls fire, beside the sun: dropped, and counted.
    c = with_sky()
    assert play(c, [fire(0.95, (460.0, 11.0, 476.0, 24.0))] * 20) == []
    assert c.counters["in_sky"] == 20
    # A fire on the ridge whose flames reach above the skyline stands on the ground: its box's bottom is below it.
    assert [t.label for t in play(with_sky(), [fire(0.95, (300.0, 80.0, 340.0, 120.0))] * 10)] == ["fire"]
    # Smoke from behind a ridge is first seen in the sky: not held back by it.
    c = Confirmer(ConfirmSettings(must_grow=[]), LABELS, {}, LabelRule(), W, H, sky=sky)
    assert [t.label for t in play(c, [smoke((300.0, 20.0, 360.0, 90.0), 0.95)] * 10)] == ["smoke"]
    # No sky drawn: the same sky fire is confirmed (what the rule is for).
    plain = Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H)
    assert [t.label for t in play(plain, [fire(0.95, (460.0, 11.0, 476.0, 24.0))] * 20)] == ["fire"]


def test_fire_and_smoke_must_move_but_flood_need_not() -> None:
    still = [(0, 0, 50, 50)]  # motion far from the detections
    c = confirmer(end_after_s=60)
    out = []
    for i in range(10):
        out += c.update(i / FPS, dets((FIRE, 0.9, 0), ((0.0, 250.0, 640.0, 360.0), 0.9, 2)), motion=still)
    assert [t.label for t in out] == ["flood"]
    c = confirmer(end_after_s=60)
    moving = [(310, 160, 340, 200)]
    out = []
    for i in range(10):
        out += c.update(i / FPS, fire(0.9), motion=moving if i % 2 else still)  # flickers in half the frames
    assert [t.label for t in out] == ["fire"]


def smoke(box: tuple[float, float, float, float], score: float = 0.9) -> np.ndarray:
    return dets((box, score, 1))


def plume(i: int, grow_px: float) -> tuple[float, float, float, float]:
    """A plume above a source at (320, 250): it rises and widens by ``grow_px`` per frame."""
    return (310.0 - grow_px * i / 2, 210.0 - grow_px * i, 330.0 + grow_px * i / 2, 250.0)


def test_smoke_must_grow_or_dwell() -> None:
    # A new plume spreading from its source: confirmed once the growth has held for five sightings in a row.
    c = confirmer(must_grow=["smoke"], end_after_s=60)
    out = play(c, [smoke(plume(i, 4.0)) for i in range(20)])
    assert [t.phase for t in out] == [Phase.NEW] and out[0].t <= 14 / FPS
    # A still grey patch (a cloud edge behind a tower): the same vote, no growth, no event before the dwell...
    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    still = (300.0, 100.0, 360.0, 180.0)
    assert play(c, [smoke(still)] * 95) == []
    # ...and an event once it has been seen that long: a plume already full-grown when the camera started.
    out = play(c, [smoke(still)] * 10, t0=95 / FPS)
    assert [t.phase for t in out] == [Phase.NEW] and out[0].t >= 20.0
    # Box noise is not growth: areas swinging by +-30 % around a constant never reach the factor 2.
    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    jitter = [smoke((300.0, 100.0 - 12 * (i % 3 - 1), 360.0, 180.0 + 12 * (i % 3 - 1))) for i in range(60)]
    assert play(c, jitter) == []
    # Box noise that doubles the median now and then, three sightings at a time, never holds for five: no event
    # (without the hold it would be one, at its first doubling).
    big, small = (300.0, 60.0, 360.0, 180.0), (300.0, 120.0, 360.0, 180.0)
    bursts = [smoke(small)] * 5 + [smoke(big if i % 10 < 3 else small) for i in range(200)]
    assert play(confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=1000.0), bursts) == []
    once = play(confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=1000.0, growth_hold=1), bursts)
    assert [t.phase for t in once][:1] == [Phase.NEW]
    # Fire is not held back: it keeps its 1.4 s confirmation.
    c = Confirmer(ConfirmSettings(), LABELS, {}, LabelRule(), W, H)
    assert [t.label for t in play(c, [fire(0.9)] * 10)] == ["fire"]


def test_smoke_cut_by_the_frame_border_does_not_count_as_grown() -> None:
    # A cloud drifting in from the right edge, or the sun's bloom there: the box grows only as more comes into view.
    def entering(i: int) -> tuple[float, float, float, float]:
        return (640.0 - 10 - 6 * i, 40.0, 640.0, 120.0)

    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    assert play(c, [smoke(entering(i)) for i in range(40)]) == []
    # The same growth inside the frame is a plume.
    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    inside = [smoke((500.0 - 6 * i, 40.0, 520.0, 120.0)) for i in range(40)]
    assert [t.phase for t in play(c, inside)] == [Phase.NEW]
    # At the edge it can still be confirmed, by the dwell: smoke rising beside the frame's edge is not lost.
    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    out = play(c, [smoke(entering(min(i, 40))) for i in range(110)])
    assert [t.phase for t in out] == [Phase.NEW] and out[0].t >= 20.0


def test_smoke_seen_on_and_off_is_never_confirmed() -> None:
    # A tree swaying against passing fog: the detector calls it smoke in 3 frames of 5, the box swings between a
    # trunk-sized and a crown-sized one (it "grows"), and it lasts for minutes. The vote alone (3 of 5) would pass.
    def sway(i: int) -> np.ndarray:
        if i % 5 in (1, 3):
            return NOTHING
        return smoke((580.0, 140.0, 615.0, 180.0) if i < 20 else (560.0, 100.0, 630.0, 195.0))

    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    assert play(c, [sway(i) for i in range(600)]) == []
    # The same boxes seen in every frame: a plume.
    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    out = play(c, [smoke((580.0, 140.0, 615.0, 180.0) if i < 20 else (560.0, 100.0, 630.0, 195.0)) for i in range(40)])
    assert [t.phase for t in out] == [Phase.NEW]
    # A plume seen on and off while faint, then steadily, is confirmed once it has been steady long enough.
    c = confirmer(must_grow=["smoke"], end_after_s=60, dwell_s=20.0)
    faint = [sway(i) if i < 25 else smoke((560.0, 100.0, 630.0, 195.0)) for i in range(100)]
    out = play(c, faint)
    assert [t.phase for t in out] == [Phase.NEW]
    assert out[0].t > 25 / FPS


def test_flood_band_across_the_frame_passes_its_own_default_rule() -> None:
    from wire.nodeconfig.camera import CameraConfig

    band = (0.0, 190.0, 640.0, 202.0)  # water over the alarm line, right across the frame: 53:1
    cfg = CameraConfig.model_validate({"id": "bank", "source": "x.avi", "model": "m.yaml"})
    c = Confirmer(ConfirmSettings(), LABELS, cfg.rules(), cfg.default_rule, W, H)
    out = play(c, [dets((band, 0.9, 2))] * 10)
    assert [(t.phase, t.label) for t in out] == [(Phase.NEW, "flood")]
    # The default rule (10:1 at most) would have dropped it, and a camera's own flood rule replaces the built-in one.
    assert not cfg.default_rule.max_ratio >= 53
    own = CameraConfig.model_validate(
        {"id": "bank", "source": "x.avi", "model": "m.yaml", "labels": {"flood": {"max_ratio": 20}}}
    )
    c = Confirmer(ConfirmSettings(), LABELS, own.rules(), own.default_rule, W, H)
    assert play(c, [dets((band, 0.9, 2))] * 10) == []
