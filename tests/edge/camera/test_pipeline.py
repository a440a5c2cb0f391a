"""The async camera pipeline: a file read to its end publishes its events in order; a bad model is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np

from edge.camera.events import Outgoing
from edge.camera.pipeline import CameraPipeline
from wire.nodeconfig.camera import CameraConfig

W, H = 320, 240


def clip(path: Path, fire: range, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (W, H))
    for i in range(frames):
        img = np.full((H, W, 3), 100, np.uint8)
        if i in fire:
            img[60:160, 160:240] = (0, 0, 255)
        writer.write(img)
    writer.release()
    return path


def test_file_source_publishes_new_then_end_and_finishes(tiny_manifest: Path, tmp_path: Path) -> None:
    cfg = CameraConfig(id="c1", source=str(clip(tmp_path / "c.avi", range(10, 30), 50)), model=tiny_manifest)
    # A red square that appears and stays does not flicker like flames: it need not move to be believed here.
    cfg = cfg.model_copy(update={"realtime": False, "confirm": cfg.confirm.model_copy(update={"needs_motion": []})})
    got: list[Outgoing] = []

    async def main() -> CameraPipeline:
        stop = asyncio.Event()
        pipe = CameraPipeline(cfg, got.append)
        task = asyncio.create_task(pipe.run(stop))
        await asyncio.wait_for(pipe.finished.wait(), 60)
        stop.set()
        await asyncio.wait_for(task, 30)
        return pipe

    pipe = asyncio.run(main())
    assert [o.transition.phase.value for o in got] == ["new", "end"]
    assert got[0].transition.t < got[1].transition.t
    stats = pipe.stats()
    assert stats["cam.c1.events"] == 2 and stats["cam.c1.errors"] == 0 and stats["cam.c1.detector_runs"] > 0
    assert stats["cam.c1.in_sky"] == 0 and stats["cam.c1.masked"] == 0 and "cam.c1.filtered" in stats


def test_bad_model_is_reported_and_the_task_waits_for_stop(tmp_path: Path) -> None:
    cfg = CameraConfig(id="c1", source="x.avi", model=tmp_path / "missing.yaml")

    async def main() -> CameraPipeline:
        stop = asyncio.Event()
        pipe = CameraPipeline(cfg, lambda _o: None)
        task = asyncio.create_task(pipe.run(stop))
        for _ in range(200):
            if pipe.last_error:
                break
            await asyncio.sleep(0.01)
        assert not task.done()  # the node keeps running without this camera
        stop.set()
        await asyncio.wait_for(task, 10)
        return pipe

    pipe = asyncio.run(main())
    assert pipe.last_error is not None and "model not loaded" in pipe.last_error and "missing.yaml" in pipe.last_error
    assert pipe.stats()["cam.c1.errors"] == 1
