"""Simulator clips for the camera benchmark: rendered once into a cache folder, with their ground truth."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FIRE_CLIPS = ["forest_fire_day", "forest_fire_night", "forest_fire_shake", "forest_smoke_day", "forest_smoke_rain"]
FLOOD_CLIPS = ["river_flood", "dam_flood", "river_flood_night"]
DISTRACTOR_CLIPS = [
    "forest_distractors",
    "river_distractors",
    "dam_distractors",
    "forest_storm_night",
    "dam_storm_day",
    "river_rise_below_alarm",
]


@dataclass(frozen=True)
class Clip:
    name: str
    video: Path
    truth: Path
    seconds: float
    fps: float

    def sky(self) -> list[tuple[float, float]]:
        """The open sky above the scene's skyline, as the camera's installer would draw it (``sky:``)."""
        return _sky(self.video.with_suffix(".spec.json"))

    def band(self) -> list[tuple[float, float]] | None:
        """The band above the alarm line for the water-line rule (``waterline.band``); None for dry scenes."""
        return _band(self.video.with_suffix(".spec.json"))

    def onsets(self) -> dict[str, float]:
        """First time each label has a ground-truth box: where a detector could first see it."""
        out: dict[str, float] = {}
        with self.truth.open() as fh:
            for line in fh:
                row: dict[str, Any] = json.loads(line)
                for box in row.get("boxes", []):
                    out.setdefault(box["label"], float(row["t_s"]))
        return out


@cache
def _sky(spec_file: Path) -> list[tuple[float, float]]:
    # Building the scene takes a few hundred milliseconds: once per clip, not once per camera of a capacity trial.
    from simulators.camera import read_spec
    from simulators.camera.sky import sky_polygon

    return sky_polygon(read_spec(spec_file))


@cache
def _band(spec_file: Path) -> list[tuple[float, float]] | None:
    from simulators.camera import read_spec
    from simulators.camera.waterline import alarm_band

    return alarm_band(read_spec(spec_file))


def _render(name: str, out_dir: str, overrides: dict[str, Any]) -> str:
    from simulators.camera import preset, write_clip

    spec = preset(name, **overrides)
    return str(write_clip(spec, out_dir, name=name).video)


def clips(
    names: list[str], cache: Path, overrides: dict[str, dict[str, Any]] | None = None, jobs: int = 2
) -> list[Clip]:
    """The named presets as clips in ``cache``, rendering (in parallel) only those not there yet."""
    from simulators.camera import preset

    cache.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}

    def fresh(n: str) -> bool:
        # write_clip writes the spec last: a clip with the same spec file is complete and current.
        spec_file = cache / f"{n}.spec.json"
        return (
            spec_file.exists()
            and spec_file.read_text() == preset(n, **overrides.get(n, {})).model_dump_json(indent=2) + "\n"
        )

    todo = [n for n in names if not fresh(n)]
    if todo:
        with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo)))) as pool:
            list(pool.map(_render, todo, [str(cache)] * len(todo), [overrides.get(n, {}) for n in todo]))
    out = []
    for n in names:
        spec = preset(n, **overrides.get(n, {}))
        out.append(Clip(n, cache / f"{n}.avi", cache / f"{n}.truth.jsonl", spec.seconds, spec.fps))
    return out
