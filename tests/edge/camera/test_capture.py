"""Capture from a real video file and a real MJPEG HTTP stream: decimation, looping, stale-stream reconnect."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.camera.capture import Capture, is_file_source
from tests.edge.camera.mjpeg import MjpegServer
from tests.support.wait import wait_until


def write_clip(path: Path, frames: int, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (160, 120))
    for i in range(frames):
        writer.write(np.full((120, 160, 3), i * 2 % 255, np.uint8))
    writer.release()
    return path


def drain(cap: Capture) -> list[float]:
    times = []
    while (f := cap.get(timeout=5)) is not None:
        times.append(f.video_t)
    return times


def test_source_kinds() -> None:
    assert is_file_source("clips/a.avi") and is_file_source("/data/x.mp4")
    assert not is_file_source("rtsp://cam/1") and not is_file_source("http://h/x") and not is_file_source("0")
    assert not is_file_source("/dev/video0")


def test_file_is_decimated_to_the_detection_rate_without_loss(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi", 40, fps=10.0)  # 4 s of video
    cap = Capture(str(clip), fps=5.0, realtime=False).start()
    try:
        times = drain(cap)
    finally:
        cap.stop()
    assert cap.ended
    assert times == pytest.approx([i * 0.2 for i in range(20)], abs=1e-6)  # every other frame, none lost
    assert cap.counters["skipped"] == 20 and cap.counters["frames"] == 40


def test_file_loops(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi", 10, fps=5.0)
    cap = Capture(str(clip), fps=5.0, realtime=False, loop=True).start()
    try:
        got = [cap.get(timeout=5) for _ in range(25)]
    finally:
        cap.stop()
    assert all(f is not None for f in got)
    assert [round(f.video_t, 3) for f in got if f is not None][9:12] == [1.8, 2.0, 2.2]  # seamless across the loop
    assert cap.counters["reconnects"] == 0


def test_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    cap = Capture(str(tmp_path / "none.avi"), fps=5.0, realtime=False, reconnect_min_s=0.05).start()
    try:
        wait_until(lambda: cap.counters["open_failures"] >= 2, timeout=10, what="open retries")
        assert "cannot open" in (cap.last_error or "")
    finally:
        cap.stop()


def test_mjpeg_stream_cut_and_restored_is_reconnected() -> None:
    with MjpegServer(fps=20) as server:
        cap = Capture(server.url, fps=5.0, stale_s=1.0, reconnect_min_s=0.1, reconnect_max_s=0.5).start()
        try:
            assert cap.get(timeout=10) is not None
            server.up.clear()  # the camera hangs: no more frames, socket open
            wait_until(lambda: cap.counters["reconnects"] >= 1, timeout=15, what="watchdog reconnect")
            while cap.get(timeout=0.2) is not None:  # forget what was buffered before the cut
                pass
            server.up.set()
            assert cap.get(timeout=15) is not None, "no frame after the stream came back"
            wait_until(lambda: cap.connected, timeout=5, what="connected again")
            assert cap.counters["skipped"] >= 1  # 20 fps offered, 5 taken
        finally:
            cap.stop()
