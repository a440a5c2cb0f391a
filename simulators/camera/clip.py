"""Writing a clip to disk: MJPG ``.avi`` video, per-frame truth as JSON lines, and the spec it was made from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2

from simulators.camera.render import Renderer
from simulators.camera.spec import ClipSpec, FrameTruth


class ClipPaths(NamedTuple):
    video: Path  # <name>.avi, MJPG
    truth: Path  # <name>.truth.jsonl, one FrameTruth per frame
    spec: Path  # <name>.spec.json


class ClipWriteError(RuntimeError):
    """OpenCV could not open or write the video file."""


def clip_paths(out_dir: Path | str, name: str) -> ClipPaths:
    out = Path(out_dir)
    return ClipPaths(out / f"{name}.avi", out / f"{name}.truth.jsonl", out / f"{name}.spec.json")


def write_clip(
    spec: ClipSpec,
    out_dir: Path | str,
    name: str | None = None,
    quality: int = 90,
    progress: Callable[[int, int], None] | None = None,
) -> ClipPaths:
    """Render ``spec`` into ``out_dir`` (created if missing); returns the three paths.

    ``progress(done, total)`` is called every few frames. The spec file is written last, so a clip whose spec file
    exists is complete.
    """
    paths = clip_paths(out_dir, name or spec.name)
    paths.video.parent.mkdir(parents=True, exist_ok=True)
    paths.spec.unlink(missing_ok=True)
    renderer = Renderer(spec)
    total = renderer.frame_count
    writer = cv2.VideoWriter(
        str(paths.video), cv2.VideoWriter.fourcc(*"MJPG"), float(spec.fps), (spec.width, spec.height)
    )
    if not writer.isOpened():
        raise ClipWriteError(f"{paths.video}: OpenCV cannot open an MJPG writer here")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
    try:
        with paths.truth.open("w", encoding="utf-8") as truth_file:
            for index in range(total):
                frame, truth = renderer.render(index)
                writer.write(frame)
                truth_file.write(truth.model_dump_json() + "\n")
                if progress and (index % 50 == 49 or index == total - 1):
                    progress(index + 1, total)
    finally:
        writer.release()
    paths.spec.write_text(spec.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return paths


def read_truth(path: Path | str) -> list[FrameTruth]:
    """The per-frame truth of a written clip, in frame order."""
    with Path(path).open(encoding="utf-8") as f:
        return [FrameTruth.model_validate_json(line) for line in f if line.strip()]


def read_spec(path: Path | str) -> ClipSpec:
    return ClipSpec.model_validate_json(Path(path).read_text(encoding="utf-8"))
