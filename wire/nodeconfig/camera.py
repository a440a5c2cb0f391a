"""Camera settings in the node config (``cameras:``): source, model, backend, masks, zones, gating, confirmation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wire.messages import Identifier
from wire.nodeconfig.inference import AnyBackendConfig, OpenVinoConfig

# A polygon in fractions of the frame (0-1), so it holds at any stream resolution: [[x, y], [x, y], ...].
Point = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)]]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LabelRule(_Section):
    min_score: float = Field(0.5, ge=0, le=1, description="A detection below this never starts a track")
    min_area: float = Field(0.0003, ge=0, le=1, description="Smallest box, as a fraction of the frame area")
    max_area: float = Field(0.9, gt=0, le=1, description="Largest box, as a fraction of the frame area")
    min_ratio: float = Field(0.1, gt=0, description="Smallest width / height")
    max_ratio: float = Field(10.0, gt=0, description="Largest width / height")

    @model_validator(mode="after")
    def _ordered(self) -> LabelRule:
        if self.min_area > self.max_area:
            raise ValueError("min_area is above max_area")
        if self.min_ratio > self.max_ratio:
            raise ValueError("min_ratio is above max_ratio")
        return self


# Filters a label gets unless the camera's `labels:` names it: water over a bank fills a band across the whole
# frame, far wider than the default rule's 10:1 allows.
LABEL_DEFAULTS: dict[str, LabelRule] = {"flood": LabelRule(max_area=1.0, max_ratio=200.0)}


class ConfirmSettings(_Section):
    window: int = Field(10, ge=1, le=100, description="k: the last k detector runs (that looked at it) vote")
    min_hits: int = Field(8, ge=1, le=100, description="m: a track is confirmed when >= m of the last k saw it")
    confirm_score: float = Field(
        0.8, ge=0, le=1, description="...and the median score of those hits reaches this (Frigate uses 0.7)"
    )
    max_travel: float = Field(
        1.0,
        gt=0,
        description="A track whose centre moves more than this many times its size before it is "
        "confirmed is a moving object (a vehicle, a bird), never an event",
    )
    max_travel_by_label: dict[Identifier, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {"fire": 0.6},
        description="...tighter for these labels: a flame flickers where it started (its box jitters by at most "
        "0.44 of its size on a shaking camera), while a plume drifts downwind as it grows",
    )
    needs_motion: list[Identifier] = Field(
        default_factory=lambda: ["fire", "smoke"],
        description="Labels whose sightings must overlap motion in at least half of the votes that confirm them "
        "(flames flicker, smoke drifts; a fire-coloured wall or a grey pillar does neither)",
    )
    grounded: list[Identifier] = Field(
        default_factory=lambda: ["fire"],
        description="Labels that stand on the ground: a box whose bottom edge lies in the camera's `sky` is "
        "dropped (the sun, a sunlit cloud edge, a bird against the glare). Smoke is not among them: a plume from "
        "behind a ridge is first seen in the sky",
    )
    must_grow: list[Identifier] = Field(
        default_factory=lambda: ["smoke"],
        description="Labels confirmed only once their box has grown by `growth` since first seen (a box cut by the "
        "frame's border never counts as grown) or after `dwell_s` of sightings, and only while seen steadily "
        "(`steady_share`): a new plume spreads from its source, while a cloud edge behind a tower or the glow "
        "beside the sun keeps its size, and a tree swaying against fog is seen on and off",
    )
    growth: float = Field(
        2.0, ge=1, description="Area of the latest sightings over the first ones (medians of 5, never overlapping)"
    )
    growth_hold: int = Field(
        5,
        ge=1,
        le=100,
        description="...holding for this many sightings in a row (1 s at 5 fps): a plume keeps growing, while box "
        "noise lifts one median over the factor by chance",
    )
    dwell_s: float = Field(
        30.0, gt=0, description="...or seen this long: a plume already full-grown when the camera starts"
    )
    steady_share: float = Field(
        0.8,
        ge=0,
        le=1,
        description="...seen in at least this share of the detector runs that looked at it since it was first seen",
    )
    end_after_s: float = Field(6.0, gt=0, description="An event ends once its label is absent this long")
    ongoing_factor: float = Field(
        0.8, gt=0, le=1, description="While an event is ongoing its track accepts scores down to min_score * this"
    )
    match_iou: float = Field(0.1, ge=0, le=1, description="Overlap for a detection to continue a track")
    update_every_s: float = Field(30.0, gt=0, description="An ongoing event sends an update at least this often")
    update_score_rise: float = Field(0.1, gt=0, le=1, description="...and when its score rises by this much")

    @model_validator(mode="after")
    def _votes(self) -> ConfirmSettings:
        if self.min_hits > self.window:
            raise ValueError(f"min_hits {self.min_hits} is above window {self.window}")
        return self


class MotionSettings(_Section):
    enabled: bool = Field(True, description="Off: run the detector on every frame, whole")
    height: int = Field(100, ge=32, le=720, description="Height of the grey frame motion is computed on")
    threshold: int = Field(20, ge=1, le=255, description="Grey-level change counted as motion")
    alpha: float = Field(0.05, gt=0, le=1, description="Background running-average weight per frame")
    min_area: float = Field(0.0005, ge=0, le=1, description="Smallest moving blob, as a fraction of the frame")
    recalibrate_fraction: float = Field(
        0.5, gt=0, le=1, description="More of the frame changing than this (lightning, IR switch): recalibrate"
    )
    full_frame_every_s: float = Field(1.0, gt=0, description="Run the detector on the whole frame at least this often")
    max_regions: int = Field(3, ge=1, le=16, description="More crops than this: run on the whole frame instead")
    pad: float = Field(0.25, ge=0, le=2, description="Grow each moving region by this fraction before cropping")
    tiles_per_frame: int = Field(
        2,
        ge=0,
        le=64,
        description="When motion is everywhere and the whole frame is checked, also this many moving model-sized "
        "tiles in turn, at full resolution (small, distant fires)",
    )
    track_hold_s: float = Field(
        5.0, ge=0, description="Keep running on the region of a recent detection this long without motion"
    )
    shed_at: float = Field(
        0.7,
        gt=0,
        le=10,
        description="Load shedding: while a frame's work takes longer than this share of the frame interval (a "
        "node with more cameras than its CPU keeps up with), the moving tiles are skipped; the whole frame and "
        "live tracks are always checked. Above 1: never shed (frames are dropped instead)",
    )


class TilingSettings(_Section):
    """High-resolution cameras (a forest tower's 3072x2048): the frame cut into tiles the detector sees at (near)
    native resolution, since distant smoke is a few pixels once the whole frame is shrunk to the model's input."""

    enabled: bool = Field(False, description="Run the detector on tiles covering the frame instead of motion crops")
    tile: int = Field(
        0, ge=0, le=8192, description="Tile side in frame pixels; 0: the model's input size (native resolution)"
    )
    overlap: float = Field(
        0.2, ge=0, le=0.75, description="Share of a tile its neighbours overlap, so a small plume is whole in one tile"
    )
    whole_frame: bool = Field(True, description="Also run on the whole frame, shrunk (near, large fires)")
    motion_gate: bool = Field(
        True, description="Between sweeps, only tiles with motion or a live track (a still tile cannot hold new smoke)"
    )
    sweep_s: float = Field(
        30.0, ge=0, description="Every tile at least this often, motion or not (0: every tile on every frame)"
    )
    merge_gap: float = Field(
        0.02,
        ge=0,
        le=0.5,
        description="Boxes of one label from neighbouring tiles that overlap or lie this close (share of the tile) "
        "are one object cut by the seam: merged into their union",
    )


class NoveltySettings(_Section):
    """A fixed camera looks at the same landscape for years: a detector response that is always there (haze over a
    valley, a pale quarry, a white roof) is part of the view, while a fire is a change. With this on, a detection
    counts only where its score rises well above what the detector usually says at that place."""

    enabled: bool = Field(False, description="Only detections above their place's usual score count")
    cell: int = Field(32, ge=4, le=1024, description="Side of the grid cells the usual score is kept on (frame px)")
    learn_s: float = Field(
        120.0, ge=0, description="Seconds of frames the usual scores are learnt from before any detection counts"
    )
    memory_s: float = Field(
        1800.0, gt=0, description="Time constant of the usual score (a new plume stays new for many minutes)"
    )
    margin: float = Field(0.3, gt=0, le=1, description="A detection counts when its score exceeds the usual by this")


class WaterlineSettings(_Section):
    """Flood on a river or dam camera without a model: water climbing into the band drawn just above the alarm line.

    No openly licensed real imagery of water over a bank exists to train or test a flood class on, so flood is a
    rule: the band is learnt dry, and the water is the part of it, from its bottom edge up, that no longer looks dry.
    """

    band: Polygon | None = Field(
        None,
        description="The bank just above the alarm line, drawn at installation (polygon, 0-1): its bottom edge on "
        "the alarm line, dry at normal water levels. None: no water-line rule",
    )
    change: int = Field(12, ge=1, le=255, description="Grey-level difference from the dry band counted as changed")
    row_share: float = Field(
        0.7, gt=0, le=1, description="A row of the band is under water when this share of its pixels changed"
    )
    min_rise: float = Field(
        0.15, gt=0, le=1, description="Flood once the water fills this share of the band's height from the bottom"
    )
    learn_s: float = Field(3.0, gt=0, description="Seconds of frames the dry band is learnt from at start")
    adapt: float = Field(
        0.02, ge=0, le=1, description="Weight of each frame in the dry band's slow update (dry pixels only)"
    )
    max_rise_per_s: float = Field(
        0.5,
        gt=0,
        description="A water height rising faster than this (share of the band per second) is light, not water "
        "(a cloud's shadow, a floodlight, the IR switch): the dry band is learnt again",
    )


class SnapshotSettings(_Section):
    enabled: bool = True
    height: int = Field(270, ge=64, le=2160)
    quality: int = Field(70, ge=10, le=100)


class CameraConfig(_Section):
    id: Identifier
    source: str = Field(
        min_length=1, description="rtsp://..., http(s)://... (MJPEG), a video file, or a device (0, /dev/video0)"
    )
    fps: float = Field(5.0, gt=0, le=60, description="Detection frames per second")
    loop: bool = Field(False, description="File sources: start again at the end (demos, soak tests)")
    realtime: bool = Field(
        True, description="File sources: play at the file's own pace; false reads as fast as the node can (tests)"
    )
    stale_s: float = Field(20.0, gt=0, description="No frame for this long: reconnect the stream")
    reconnect_min_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(10.0, gt=0)
    model: Path = Field(description="The model's manifest.yaml")
    backend: AnyBackendConfig = Field(default_factory=OpenVinoConfig)
    masks: list[Polygon] = Field(default_factory=list, description="Areas never reported (polygons, 0-1)")
    zones: dict[Identifier, Polygon] = Field(default_factory=dict, description="Named areas events are tagged with")
    sky: list[Polygon] = Field(
        default_factory=list,
        description="Open sky, drawn above the skyline at installation (polygons, 0-1): `confirm.grounded` labels "
        "(fire) never start there",
    )
    labels: dict[Identifier, LabelRule] = Field(
        default_factory=dict, description="Per-label filters (flood has its own default: a band across the frame)"
    )
    default_rule: LabelRule = Field(default_factory=LabelRule, description="Filters of labels not under labels")
    report: list[Identifier] | None = Field(None, description="Labels that raise events; None: every model label")
    confirm: ConfirmSettings = Field(default_factory=ConfirmSettings)
    motion: MotionSettings = Field(default_factory=MotionSettings)
    tiling: TilingSettings = Field(default_factory=TilingSettings)
    novelty: NoveltySettings = Field(default_factory=NoveltySettings)
    waterline: WaterlineSettings = Field(default_factory=WaterlineSettings)
    snapshot: SnapshotSettings = Field(default_factory=SnapshotSettings)

    def rule(self, label: str) -> LabelRule:
        return self.rules().get(label, self.default_rule)

    def rules(self) -> dict[str, LabelRule]:
        """The per-label filters in force: the built-in ones, replaced label by label by the camera's own."""
        return {**LABEL_DEFAULTS, **self.labels}
