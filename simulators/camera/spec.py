"""What a simulated clip shows (``ClipSpec``) and what each frame truly contains (``FrameTruth``)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SceneName = Literal["forest", "river", "dam"]
EventKind = Literal["smoke", "fire", "water_rise"]
Distractor = Literal["vehicles", "birds", "trees", "glare", "clouds", "fog", "lightning", "ir_switch"]
Label = Literal["fire", "smoke", "flood"]

# Scenes with a bank and an alarm line that water can rise over.
WATER_SCENES: tuple[str, ...] = ("river", "dam")


class SceneEvent(BaseModel):
    """One scripted event. ``x``, ``y`` and ``size`` are fractions of the frame.

    smoke: ``(x, y)`` is the foot of the plume, ``size`` its full height once grown (fraction of the frame height).
    fire: ``(x, y)`` is the foot of the flames, ``size`` their height; ``smoke`` adds the plume they give off.
    water_rise: the water climbs from the scene's normal level to the level ``y`` over ``ramp_s`` seconds (default:
    until ``end_s``, or the clip's end) and stays there; ``x`` and ``size`` are not used.
    ``end_s`` None means the event lasts until the clip ends.
    """

    model_config = ConfigDict(extra="forbid")

    kind: EventKind
    start_s: float = Field(0.0, ge=0.0, description="seconds from the clip start")
    end_s: float | None = Field(None, description="seconds from the clip start; None: until the clip ends")
    x: float = Field(0.5, ge=0.0, le=1.0)
    y: float = Field(0.5, ge=0.0, le=1.0)
    size: float = Field(0.15, gt=0.0, le=1.0)
    smoke: bool = Field(True, description="fire only: the flames give off a smoke plume (with its own truth box)")
    ramp_s: float | None = Field(None, gt=0.0, description="water_rise only: seconds to reach level y")

    @model_validator(mode="after")
    def _end_after_start(self) -> SceneEvent:
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class ClipSpec(BaseModel):
    """A clip: scene, length, conditions, scripted events and distractors. The same spec gives the same frames."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("clip", pattern=r"^[A-Za-z0-9_.-]{1,80}$", description="base name of the written files")
    scene: SceneName = "forest"
    seconds: float = Field(60.0, gt=0.0, le=24 * 3600.0)
    fps: float = Field(5.0, gt=0.0, le=60.0)
    width: int = Field(640, ge=64, le=3840)
    height: int = Field(360, ge=64, le=2160)
    seed: int = Field(1, ge=0, lt=2**63)
    time_of_day: Literal["day", "night"] = "day"
    rain: bool = False
    shake: float = Field(0.0, ge=0.0, le=50.0, description="pixel amplitude of camera shake")
    events: list[SceneEvent] = Field(default_factory=list)
    distractors: list[Distractor] = Field(default_factory=list)

    @model_validator(mode="after")
    def _events_fit_scene(self) -> ClipSpec:
        for i, ev in enumerate(self.events):
            if ev.kind == "water_rise" and self.scene not in WATER_SCENES:
                raise ValueError(
                    f"events[{i}]: water_rise needs a scene with water ({', '.join(WATER_SCENES)}), not {self.scene!r}"
                )
        return self

    @property
    def frame_count(self) -> int:
        return max(1, math.floor(self.seconds * self.fps + 1e-9))


class TruthBox(BaseModel):
    """A labelled box in pixels of the frame as delivered (after camera shake); ``x2``/``y2`` are exclusive."""

    model_config = ConfigDict(extra="forbid")

    label: Label
    x1: int = Field(ge=0)
    y1: int = Field(ge=0)
    x2: int
    y2: int


class FrameTruth(BaseModel):
    """Ground truth of one frame: its number, its time from the clip start and the boxes of what is visible."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0)
    t_s: float = Field(ge=0.0)
    boxes: list[TruthBox] = Field(default_factory=list)
