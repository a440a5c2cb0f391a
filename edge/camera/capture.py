"""Frame capture with OpenCV in a thread of its own: RTSP, HTTP MJPEG, a video file or a local device.

A live source keeps only its newest frame (the detector takes one at its own pace; frames it never took are counted
as skipped). A file source read with ``realtime: false`` hands every frame on at the detection rate, as fast as the
consumer takes them, so a ten-minute clip is checked in seconds. A watchdog reopens a stream that gave no frame for
``stale_s``, backing off between attempts.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR uint8
    ts: float  # epoch seconds; for a file source the start of reading plus the frame's place in the video
    video_t: float  # seconds since the source started (file: position in the video, loops included)
    index: int


def is_file_source(source: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*://", source, re.I) and not re.fullmatch(r"\d+|/dev/video\d+", source)


def open_capture(source: str, timeout_s: float) -> Any:
    """A cv2.VideoCapture for a URL, file or device, with open and read timeouts on network streams."""
    if re.fullmatch(r"\d+", source):
        return cv2.VideoCapture(int(source))
    if source.startswith("/dev/video"):
        return cv2.VideoCapture(source, cv2.CAP_V4L2)
    ms = int(timeout_s * 1000)
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    return cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)


class Capture:
    """Lifecycle: ``start()``, then ``get(timeout)`` from one consumer thread, ``stop()`` once."""

    def __init__(
        self,
        source: str,
        fps: float,
        stale_s: float = 20.0,
        loop: bool = False,
        realtime: bool = True,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 10.0,
        opener: Callable[[str, float], Any] = open_capture,
        name: str = "camera",
    ) -> None:
        self.source = source
        self.fps = fps
        self.stale_s = stale_s
        self.loop = loop
        self.is_file = is_file_source(source)
        self.fast = self.is_file and not realtime
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.opener = opener
        self.name = name
        self.counters = {"frames": 0, "delivered": 0, "skipped": 0, "reconnects": 0, "open_failures": 0}
        self.connected = False
        self.ended = False  # a file source without loop has been read to its end
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._frames: deque[Frame] = deque()
        self._thread = threading.Thread(target=self._run, name=f"capture-{name}", daemon=True)
        self.t0 = time.time()  # epoch seconds that video time 0 of a file source maps to
        self._next_due = 0.0
        self._backoff = reconnect_min_s  # between attempts to open the source; reset by a frame
        self._index = 0  # of the next frame handed on, over every opening

    # -- consumer side ------------------------------------------------------------------------------------
    def start(self) -> Capture:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        # A read blocked on a hung stream ends at its FFmpeg timeout; the thread is a daemon, so do not wait for it.
        self._thread.join(timeout=3.0)

    def get(self, timeout: float) -> Frame | None:
        """The next frame to process, or None after ``timeout`` (or once a file has ended)."""
        deadline = time.monotonic() + timeout
        if not self.is_file:
            # A live stream offers more frames than the detection rate: take the newest one per slot.
            wait = min(self._next_due - time.monotonic(), timeout)
            if wait > 0 and self._stop.wait(wait):
                return None
        with self._cond:
            while not self._frames:
                left = deadline - time.monotonic()
                if left <= 0 or self.ended or self._stop.is_set():
                    return None
                self._cond.wait(left)
            frame = self._frames.popleft()
            self._cond.notify_all()
        self._next_due = time.monotonic() + 1.0 / self.fps
        self.counters["delivered"] += 1
        return frame

    # -- producer side ------------------------------------------------------------------------------------
    def _put(self, frame: Frame) -> None:
        with self._cond:
            if self.fast:
                # Every frame matters: wait for the consumer rather than dropping.
                while len(self._frames) >= 2 and not self._stop.is_set():
                    self._cond.wait(0.5)
            elif self._frames:
                self.counters["skipped"] += len(self._frames)
                self._frames.clear()
            self._frames.append(frame)
            self._cond.notify_all()

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopped."""
        return self._stop.wait(seconds)

    def _run(self) -> None:
        video_base = 0.0  # seconds of video before the current opening (loops)
        first = True
        while not self._stop.is_set():
            if not first:
                self.counters["reconnects"] += 1
            first = False
            cap = self.opener(self.source, self.stale_s)
            if cap is None or not cap.isOpened():
                if self._open_failed():
                    break
                continue
            clock = _FileClock(video_base, self._file_fps(cap), 1.0 / self.fps)
            try:
                reached_end = self._read(cap, clock)
            finally:
                cap.release()
                self.connected = False
            if reached_end:
                if not self.loop or clock.frames == 0:
                    with self._cond:
                        self.ended = True
                        self._cond.notify_all()
                    return
                video_base += clock.frames / clock.fps
                first = True  # looping is not a reconnect
            elif not self._stop.is_set() and self._wait(self._backoff):
                break

    def _open_failed(self) -> bool:
        """Count and report a source that would not open, then back off; True when stopped meanwhile."""
        self.counters["open_failures"] += 1
        self.last_error = f"camera {self.name}: cannot open {self.source}"
        log.warning("%s; retrying in %.1f s", self.last_error, self._backoff)
        if self._wait(self._backoff):
            return True
        self._backoff = min(self._backoff * 2, self.reconnect_max_s)
        return False

    def _file_fps(self, cap: Any) -> float:
        """A file's own frame rate; the detection rate for a live source or a file that states none (or nonsense)."""
        file_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0) if self.is_file else 0.0
        return file_fps if 0 < file_fps < 1000 else self.fps

    def _read(self, cap: Any, clock: _FileClock) -> bool:
        """Hand on frames from one opening of the source until it fails or the capture stops; True when a file
        reached its end."""
        last_frame = time.monotonic()
        while not self._stop.is_set():
            ok, image = cap.read()
            now = time.monotonic()
            if not ok or image is None:
                if self.is_file:
                    return True
                if now - last_frame >= self.stale_s:
                    self.last_error = f"camera {self.name}: no frame for {self.stale_s:.0f} s, reconnecting"
                    log.warning(self.last_error)
                    return False
                self._wait(0.05)
                continue
            last_frame = now
            self.connected = True
            self._backoff = self.reconnect_min_s
            self.counters["frames"] += 1
            if self.is_file:
                video_t = clock.take()
                if video_t is None:
                    self.counters["skipped"] += 1
                    continue
                ts = self.t0 + video_t
                if not self.fast and self._hold_until(ts):
                    return False
            else:
                ts = time.time()
                video_t = ts - self.t0
            self._put(Frame(image, ts, video_t, self._index))
            self._index += 1
        return False

    def _hold_until(self, ts: float) -> bool:
        """Keep a file read in real time at the pace of its video; True when stopped meanwhile."""
        delay = ts - time.time()
        return delay > 0 and self._wait(delay)


@dataclass
class _FileClock:
    """Where one opening of a file source is in the video. Frames are taken by their position in the video, not by
    reading speed, so a file decimates to the detection rate however fast it is read."""

    base: float  # seconds of video before this opening (loops)
    fps: float  # the file's frame rate
    step: float  # seconds of video between the frames taken
    frames: int = 0  # frames read in this opening
    next_take: float = 0.0  # video time of the next frame to take, from ``base``

    def take(self) -> float | None:
        """The video time of the frame just read, or None when it falls before the next detection slot."""
        video_t = self.base + self.frames / self.fps
        self.frames += 1
        if video_t + 1e-6 < self.base + self.next_take:
            return None
        self.next_take += self.step
        return video_t


def is_readable_file(source: str) -> bool:
    return is_file_source(source) and Path(source).is_file()
