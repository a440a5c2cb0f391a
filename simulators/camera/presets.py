"""Named ready-made clips: fire, smoke and flood clips, and distractor-only clips (hard negatives, no truth boxes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulators.camera.spec import ClipSpec, SceneEvent

ALL_DAY = ["vehicles", "birds", "trees", "glare", "clouds", "fog"]


@dataclass(frozen=True)
class Preset:
    description: str
    tags: tuple[str, ...]  # what the clip contains: fire, smoke, flood, distractor (no events at all), night, rain
    spec: dict[str, Any] = field(default_factory=dict)


def _fire(x: float, y: float, size: float, start: float, **kw: Any) -> dict[str, Any]:
    return {"kind": "fire", "x": x, "y": y, "size": size, "start_s": start, **kw}


PRESETS: dict[str, Preset] = {
    "forest_fire_day": Preset(
        "Flames with a dark smoke plume break out on the hillside at 10 s; trees sway, birds and clouds pass.",
        ("fire", "smoke"),
        {"scene": "forest", "events": [_fire(0.55, 0.62, 0.1, 10.0)], "distractors": ["trees", "birds", "clouds"]},
    ),
    "forest_fire_night": Preset(
        "Night (IR grey): a fire on the hillside at 10 s, bright in IR; cars with headlights on the road.",
        ("fire", "smoke", "night"),
        {
            "scene": "forest",
            "time_of_day": "night",
            "events": [_fire(0.42, 0.6, 0.1, 10.0)],
            "distractors": ["vehicles", "trees"],
        },
    ),
    "forest_fire_shake": Preset(
        "A fire at 8 s seen by a shaking camera (4 px), with traffic including orange trucks.",
        ("fire", "smoke"),
        {
            "scene": "forest",
            "shake": 4.0,
            "events": [_fire(0.6, 0.6, 0.1, 8.0)],
            "distractors": ["vehicles", "trees", "clouds"],
        },
    ),
    "forest_smoke_day": Preset(
        "A white smoke plume (no flames visible) rises and drifts from the ridge from 8 s; clouds, glare, birds.",
        ("smoke",),
        {
            "scene": "forest",
            "events": [{"kind": "smoke", "x": 0.45, "y": 0.58, "size": 0.3, "start_s": 8.0}],
            "distractors": ["clouds", "glare", "birds", "trees"],
        },
    ),
    "forest_smoke_rain": Preset(
        "Smoke from 8 s in the rain, with a fog bank in the valley (a hard negative next to the real plume).",
        ("smoke", "rain"),
        {
            "scene": "forest",
            "rain": True,
            "events": [{"kind": "smoke", "x": 0.62, "y": 0.6, "size": 0.28, "start_s": 8.0}],
            "distractors": ["fog", "trees", "clouds"],
        },
    ),
    "river_flood": Preset(
        "The river rises from 5 s and crosses the red alarm line at about 30 s, in the rain; traffic on the far bank.",
        ("flood", "rain"),
        {
            "scene": "river",
            "rain": True,
            "events": [{"kind": "water_rise", "y": 0.45, "start_s": 5.0, "end_s": 50.0}],
            "distractors": ["vehicles", "birds", "trees"],
        },
    ),
    "river_flood_night": Preset(
        "Night (IR grey): the river rises from 5 s and crosses the alarm line at about 30 s.",
        ("flood", "night"),
        {
            "scene": "river",
            "time_of_day": "night",
            "events": [{"kind": "water_rise", "y": 0.45, "start_s": 5.0, "end_s": 50.0}],
            "distractors": ["vehicles", "trees"],
        },
    ),
    "river_rise_below_alarm": Preset(
        "The river rises from 5 s but stops below the alarm line: water moves, yet there is never a flood box.",
        ("distractor",),
        {
            "scene": "river",
            "events": [{"kind": "water_rise", "y": 0.6, "start_s": 5.0, "end_s": 40.0}],
            "distractors": ["vehicles", "birds", "trees", "clouds"],
        },
    ),
    "dam_flood": Preset(
        "The reservoir rises up the dam face from 5 s and passes the alarm line at about 40 s.",
        ("flood",),
        {
            "scene": "dam",
            "events": [{"kind": "water_rise", "y": 0.44, "start_s": 5.0, "end_s": 55.0}],
            "distractors": ["vehicles", "clouds", "birds"],
        },
    ),
    "forest_distractors": Preset(
        "Four minutes of the forest with every day-time distractor and no event.",
        ("distractor",),
        {"scene": "forest", "seconds": 240.0, "distractors": ALL_DAY},
    ),
    "river_distractors": Preset(
        "Four minutes of the river with every day-time distractor and no event (water at its normal level).",
        ("distractor",),
        {"scene": "river", "seconds": 240.0, "distractors": ALL_DAY},
    ),
    "dam_distractors": Preset(
        "Four minutes of the dam with every day-time distractor and no event.",
        ("distractor",),
        {"scene": "dam", "seconds": 240.0, "distractors": ALL_DAY},
    ),
    "forest_storm_night": Preset(
        "Two minutes of a stormy night: rain, lightning flashes, the IR-cut filter switching, headlights; no event.",
        ("distractor", "night", "rain"),
        {
            "scene": "forest",
            "seconds": 120.0,
            "time_of_day": "night",
            "rain": True,
            "distractors": ["vehicles", "trees", "lightning", "ir_switch"],
        },
    ),
    "dam_storm_day": Preset(
        "Two minutes of a storm at the dam: rain, lightning, IR switching, a shaking camera (3 px), traffic; no event.",
        ("distractor", "rain"),
        {
            "scene": "dam",
            "seconds": 120.0,
            "rain": True,
            "shake": 3.0,
            "distractors": ["vehicles", "trees", "clouds", "lightning", "ir_switch"],
        },
    ),
}


class UnknownPreset(KeyError):
    def __str__(self) -> str:
        return f"unknown camera preset {self.args[0]!r}; known: {', '.join(sorted(PRESETS))}"


def preset(name: str, **overrides: Any) -> ClipSpec:
    """The named clip's spec; ``overrides`` replace its fields (e.g. ``seconds=20``, ``seed=7``)."""
    try:
        entry = PRESETS[name]
    except KeyError:
        raise UnknownPreset(name) from None
    data = {"name": name, **entry.spec, **overrides}
    data["events"] = [e if isinstance(e, SceneEvent) else SceneEvent(**e) for e in data.get("events", [])]
    return ClipSpec(**data)


def preset_names(tag: str | None = None) -> list[str]:
    """Preset names, all or those carrying ``tag`` (fire, smoke, flood, distractor, night, rain)."""
    return [n for n, p in PRESETS.items() if tag is None or tag in p.tags]
