"""Camera simulator: procedural forest, river and dam scenes with scripted fire, smoke and flood events, distractors,
per-frame ground truth, MJPG clips and a live MJPEG server (``iocgw sim camera``).

Importing the package renders nothing and starts nothing.
"""

from simulators.camera.clip import ClipPaths, read_spec, read_truth, write_clip
from simulators.camera.presets import PRESETS, preset, preset_names
from simulators.camera.render import Renderer, iter_frames
from simulators.camera.spec import ClipSpec, FrameTruth, SceneEvent, TruthBox

__all__ = [
    "PRESETS",
    "ClipPaths",
    "ClipSpec",
    "FrameTruth",
    "Renderer",
    "SceneEvent",
    "TruthBox",
    "iter_frames",
    "preset",
    "preset_names",
    "read_spec",
    "read_truth",
    "write_clip",
]
