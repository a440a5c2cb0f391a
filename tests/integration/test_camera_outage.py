"""Camera events written while the broker is down reach the hub after it is back, all of them, in order.

Uses the tiny hand-wired test model on a made-up clip (a red square that appears, stays and goes), so the events
are known in advance; the real model and simulator clips are covered in test_camera_sim.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.edge.inference import tinymodel
from tests.support.camera_nodes import camera_node, events
from tests.support.wait import wait_until

pytestmark = pytest.mark.services

W, H, FPS = 320, 240, 5.0


def square_clip(path: Path, bursts: list[tuple[int, int]], frames: int) -> Path:
    """A noisy grey clip with a red square on frames [a, b) of each burst."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    for i in range(frames):
        rng = np.random.default_rng(i)
        img = (np.full((H, W, 3), 100, np.int16) + rng.integers(-4, 5, (H, W, 3))).clip(0, 255).astype(np.uint8)
        if any(a <= i < b for a, b in bursts):
            img[60:160, 160:240] = (0, 0, 255)
        writer.write(img)
    writer.release()
    return path


def test_events_queued_while_the_broker_is_down_arrive_in_order(tmp_path, make_hub, influx, mosquitto):
    model = tinymodel.build(tmp_path / "model")
    # Two fires 20 s apart in the video: new, end, new, end.
    clip = square_clip(tmp_path / "two_fires.avi", [(10, 40), (140, 170)], 240)
    make_hub()
    mosquitto.kill()
    cam = {
        "id": "ridge-1",
        "source": str(clip),
        "realtime": False,
        "model": str(model),
        "backend": {"type": "litert", "threads": 1},
        # The square does not flicker like a flame: it must not need motion to be believed.
        "confirm": {"end_after_s": 4.0, "needs_motion": []},
    }
    node = camera_node(tmp_path, mosquitto.port, "cam-node-1", [cam])
    try:
        wait_until(lambda: node.call(lambda a: a.cameras["ridge-1"].finished.is_set()), timeout=60, what="clip read")
        queued = node.call(lambda a: a.outbox.depth)
        assert queued >= 4  # four events (and their snapshots) wait in the outbox
        assert events(influx.url, "cam-node-1") == []
        mosquitto.start()
        wait_until(lambda: len(events(influx.url, "cam-node-1")) >= 4, timeout=60, what="events stored")
        got = events(influx.url, "cam-node-1")
        assert [r["phase"] for r in got] == ["new", "end", "new", "end"]
        assert got[0]["event_id"] == got[1]["event_id"] != got[2]["event_id"] == got[3]["event_id"]
        assert [r["time"] for r in got] == sorted(r["time"] for r in got)
        assert all(r["label"] == "fire" for r in got)
    finally:
        node.stop()
