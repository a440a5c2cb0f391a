"""The MJPEG camera server over real HTTP: listing, snapshots, streams, cut and restore, and OpenCV as a client."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import aiohttp
import cv2
import numpy as np
import pytest

from simulators.camera import ClipSpec
from simulators.camera.server import CameraServer

FPS = 10.0


class ServerThread:
    """The server on its own event loop in a thread, so blocking clients (OpenCV, http.client) can use it."""

    def __init__(self, specs: list[ClipSpec]) -> None:
        self.server = CameraServer(specs)
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.start())
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.server.stop())
        self.loop.close()

    def start(self) -> int:
        self._thread.start()
        assert self._ready.wait(30), "server did not start"
        return self.server.port

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


@pytest.fixture(scope="module")
def cameras() -> Iterator[int]:
    specs = [
        ClipSpec(name="forest", scene="forest", seconds=20.0, fps=FPS, width=320, height=180, distractors=["birds"]),
        ClipSpec(name="dam", scene="dam", seconds=20.0, fps=FPS, width=320, height=180),
        ClipSpec(name="river", scene="river", seconds=20.0, fps=FPS, width=320, height=180),
    ]
    srv = ServerThread(specs)
    port = srv.start()
    yield port
    srv.stop()


def _get(port: int, path: str, method: str = "GET") -> tuple[int, bytes, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


class MjpegReader:
    """Parses a multipart/x-mixed-replace stream part by part, as a strict client would."""

    def __init__(self, port: int, name: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", f"/cameras/{name}/mjpeg")
        self.resp = self.conn.getresponse()
        ctype = self.resp.getheader("Content-Type", "")
        assert self.resp.status == 200 and ctype.startswith("multipart/x-mixed-replace"), (self.resp.status, ctype)
        self.boundary = ctype.split("boundary=")[1].strip().encode()

    def next_jpeg(self) -> bytes:
        line = self.resp.readline().strip()
        while not line:  # tolerate blank lines between parts
            line = self.resp.readline()
            if line == b"":
                raise EOFError("stream ended")
            line = line.strip()
        assert line == b"--" + self.boundary, line
        headers = {}
        while True:
            h = self.resp.readline()
            if h == b"":
                raise EOFError("stream ended in headers")
            if not h.strip():
                break
            key, _, value = h.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        data = self.resp.read(int(headers["content-length"]))
        if len(data) < int(headers["content-length"]):
            raise EOFError("stream ended in a frame")
        return data

    def close(self) -> None:
        self.conn.close()


def _decode(jpeg: bytes) -> np.ndarray:
    frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None, "not a JPEG"
    return frame


def test_lists_cameras(cameras: int) -> None:
    status, body, ctype = _get(cameras, "/cameras")
    assert status == 200 and ctype.startswith("application/json")
    listing = {c["name"]: c for c in json.loads(body)}
    assert set(listing) == {"forest", "dam", "river"}
    assert listing["dam"]["scene"] == "dam" and listing["dam"]["fps"] == FPS
    assert listing["forest"]["mjpeg"] == "/cameras/forest/mjpeg"
    assert _get(cameras, "/cameras/nope/snapshot.jpg")[0] == 404


def test_snapshot_is_a_jpeg_of_the_clip_size(cameras: int) -> None:
    status, body, ctype = _get(cameras, "/cameras/dam/snapshot.jpg")
    assert status == 200 and ctype == "image/jpeg"
    assert _decode(body).shape == (180, 320, 3)


def test_stream_serves_parseable_frames_no_faster_than_the_clip(cameras: int) -> None:
    reader = MjpegReader(cameras, "forest")
    try:
        started = time.monotonic()
        frames = [_decode(reader.next_jpeg()) for _ in range(6)]
        elapsed = time.monotonic() - started
    finally:
        reader.close()
    assert all(f.shape == (180, 320, 3) for f in frames)
    # Paced at the clip's clock: six frames at 10 fps span at least four frame intervals.
    assert elapsed >= 4 / FPS


def test_cut_drops_open_streams_and_refuses_new_ones_until_restored(cameras: int) -> None:
    reader = MjpegReader(cameras, "dam")
    other = MjpegReader(cameras, "forest")
    try:
        reader.next_jpeg()
        status, body, _ = _get(cameras, "/cameras/dam/cut", method="POST")
        assert status == 200 and json.loads(body) == {"name": "dam", "cut": True, "dropped": 1}
        with pytest.raises((EOFError, http.client.IncompleteRead, ConnectionError)):
            for _ in range(50):  # at most the frames already in flight arrive, then the stream ends
                reader.next_jpeg()
        assert _get(cameras, "/cameras/dam/mjpeg")[0] == 503
        assert _get(cameras, "/cameras/dam/snapshot.jpg")[0] == 503
        cut = {c["name"]: c["cut"] for c in json.loads(_get(cameras, "/cameras")[1])}
        assert cut == {"forest": False, "dam": True, "river": False}
        other.next_jpeg()  # another camera is not affected
        assert _get(cameras, "/cameras/dam/restore", method="POST")[0] == 200
        again = MjpegReader(cameras, "dam")
        try:
            assert _decode(again.next_jpeg()).shape == (180, 320, 3)
        finally:
            again.close()
    finally:
        reader.close()
        other.close()


def test_opencv_reads_the_stream(cameras: int) -> None:
    cap = cv2.VideoCapture(f"http://127.0.0.1:{cameras}/cameras/forest/mjpeg", cv2.CAP_FFMPEG)
    try:
        assert cap.isOpened(), "OpenCV's FFmpeg backend could not open the MJPEG stream"
        shapes = []
        for _ in range(3):
            ok, frame = cap.read()
            assert ok
            shapes.append(frame.shape)
    finally:
        cap.release()
    assert shapes == [(180, 320, 3)] * 3


def test_opencv_sees_a_cut_as_a_lost_stream_and_reconnects_after_restore(cameras: int) -> None:
    url = f"http://127.0.0.1:{cameras}/cameras/river/mjpeg"
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        assert cap.read()[0]
        assert _get(cameras, "/cameras/river/cut", method="POST")[0] == 200
        assert not all(cap.read()[0] for _ in range(50)), "reads kept succeeding after the cut"
    finally:
        cap.release()
    assert not cv2.VideoCapture(url, cv2.CAP_FFMPEG).isOpened()  # refused while cut
    assert _get(cameras, "/cameras/river/restore", method="POST")[0] == 200
    again = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    try:
        assert again.read()[0]
    finally:
        again.release()


async def _read_part(content: aiohttp.StreamReader) -> bytes:
    line = b""
    while not line.strip():
        line = await content.readline()
        if not line:
            raise EOFError("stream ended")
    length = 0
    while (header := (await content.readline()).strip()) != b"":
        key, _, value = header.decode().partition(":")
        if key.strip().lower() == "content-length":
            length = int(value)
    return await content.readexactly(length)


def test_freeze_stalls_open_streams_until_restored(cameras: int) -> None:
    base = f"http://127.0.0.1:{cameras}/cameras/forest"

    async def scenario() -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as session, session.get(f"{base}/mjpeg") as resp:
            await _read_part(resp.content)
            await session.post(f"{base}/freeze")
            stalled = 0
            for _ in range(4):  # frames already on their way may still arrive, then nothing
                try:
                    await asyncio.wait_for(_read_part(resp.content), 1.0)
                except TimeoutError:
                    stalled += 1
                    break
            listing = await (await session.get(f"http://127.0.0.1:{cameras}/cameras")).json()
            assert {c["name"]: c["frozen"] for c in listing}["forest"] is True
            await session.post(f"{base}/restore")
            # The same connection carries on after the restore.
            return stalled, await asyncio.wait_for(_read_part(resp.content), 10.0)

    try:
        stalled, jpeg = asyncio.run(scenario())
    finally:
        _get(cameras, "/cameras/forest/restore", method="POST")
    assert stalled == 1, "frames kept coming while frozen"
    assert _decode(jpeg).shape == (180, 320, 3)


def test_parts_carry_frame_index_and_rewind_restarts_the_clip(cameras: int) -> None:
    status, _, _ = _get(cameras, "/cameras/dam/rewind", method="POST")
    assert status == 200
    listing = {c["name"]: c for c in json.loads(_get(cameras, "/cameras")[1])}
    dam = listing["dam"]
    # Rewound just now: the clip is near its start (generous bound: 5 s at 10 fps on a busy machine).
    assert 0 <= dam["frame_index"] < 50
    assert abs(dam["loop_started_unix"] - (time.time() - dam["clip_time_s"])) < 5.0
    with urllib.request.urlopen(f"http://127.0.0.1:{cameras}/cameras/dam/snapshot.jpg", timeout=10) as resp:
        assert 0 <= int(resp.headers["X-Frame-Index"]) < 200
    reader = MjpegReader(cameras, "dam")
    try:
        line = reader.resp.readline().strip()
        assert line == b"--frame"
        headers = {}
        while h := reader.resp.readline().strip():
            key, _, value = h.decode().partition(":")
            headers[key.lower()] = value.strip()
        assert 0 <= int(headers["x-frame-index"]) < 200
    finally:
        reader.close()


def test_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        CameraServer([ClipSpec(name="a"), ClipSpec(name="a")])
