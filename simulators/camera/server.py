"""Serves clips as live IP cameras over HTTP (MJPEG), looping at their fps, with a switch to cut each stream.

GET  /cameras                        JSON list of the cameras
GET  /cameras/<name>/mjpeg           multipart/x-mixed-replace JPEG stream, paced at the clip's fps
GET  /cameras/<name>/snapshot.jpg    the current frame
POST /cameras/<name>/cut             drop every open stream of the camera; refuse new ones (503) until restored
POST /cameras/<name>/freeze          keep streams open but send no more frames (a stalled camera)
POST /cameras/<name>/restore         undo cut and freeze
POST /cameras/<name>/rewind          start the clip again from frame 0 now

Each part of a stream and each snapshot carries ``X-Frame-Index`` (the clip's frame number, to match the truth);
the listing gives each camera's position and the wall-clock time its current loop began.

All viewers of a camera see the same live frame: frame = (seconds since start x fps) modulo the clip's length.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Sequence

import cv2
from aiohttp import web

from simulators.camera.render import Renderer
from simulators.camera.spec import ClipSpec

log = logging.getLogger("iocgw.sim.camera")

BOUNDARY = "frame"


class LiveCamera:
    """One looping clip: renders and JPEG-encodes the live frame on demand, once for all its viewers."""

    def __init__(self, spec: ClipSpec, quality: int) -> None:
        self.spec = spec
        self.renderer = Renderer(spec)
        self.quality = quality
        self.cut = False
        self.frozen = False
        self.streams: set[asyncio.Event] = set()  # one per open stream, set to make it drop
        self.frames_sent = 0
        self.t0 = 0.0  # event-loop time of frame 0
        self._lock = asyncio.Lock()
        self._cached: tuple[int, bytes] | None = None

    def _encode(self, index: int) -> bytes:
        frame, _ = self.renderer.render(index)
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR frame
            raise RuntimeError(f"camera {self.spec.name}: JPEG encoding failed")
        return buf.tobytes()

    async def jpeg(self, index: int) -> bytes:
        index %= self.renderer.frame_count
        async with self._lock:
            if self._cached is None or self._cached[0] != index:
                self._cached = (index, await asyncio.to_thread(self._encode, index))
            return self._cached[1]

    def index_at(self, now: float) -> int:
        """Frames since ``t0`` (not wrapped: the stream paces on it)."""
        return math.floor((now - self.t0) * self.spec.fps)

    def describe(self, name: str, now: float) -> dict[str, object]:
        s = self.spec
        frames = self.index_at(now)
        frame = frames % s.frame_count
        position = frame / s.fps
        # Wall-clock time of the current loop's frame 0: a scripted event at start_s shows at this + start_s.
        loop_start = time.time() - (now - self.t0) + (frames - frame) / s.fps
        return {
            "name": name,
            "scene": s.scene,
            "fps": s.fps,
            "width": s.width,
            "height": s.height,
            "seconds": s.seconds,
            "frames": s.frame_count,
            "time_of_day": s.time_of_day,
            "cut": self.cut,
            "frozen": self.frozen,
            "viewers": len(self.streams),
            "frame_index": frame,
            "clip_time_s": round(position, 3),
            "loop_started_unix": round(loop_start, 3),
            "mjpeg": f"/cameras/{name}/mjpeg",
            "snapshot": f"/cameras/{name}/snapshot.jpg",
        }


class CameraServer:
    """The MJPEG server; usable in-process (``await start()`` ... ``await stop()``) or from ``iocgw sim camera serve``.

    ``port`` 0 picks a free port; read the real one from ``port`` after ``start()``.
    """

    def __init__(self, specs: Sequence[ClipSpec], host: str = "127.0.0.1", port: int = 0, quality: int = 80) -> None:
        names = [s.name for s in specs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"camera names must be unique; repeated: {', '.join(dupes)}")
        if not specs:
            raise ValueError("no cameras to serve")
        self.cameras = {s.name: LiveCamera(s, quality) for s in specs}
        self.host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    def url(self, name: str, what: str = "mjpeg") -> str:
        return f"http://{self.host}:{self._port}/cameras/{name}/{what}"

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cameras", self._list)
        app.router.add_get("/cameras/{name}/mjpeg", self._mjpeg)
        app.router.add_get("/cameras/{name}/snapshot.jpg", self._snapshot)
        app.router.add_post("/cameras/{name}/cut", self._cut)
        app.router.add_post("/cameras/{name}/freeze", self._freeze)
        app.router.add_post("/cameras/{name}/restore", self._restore)
        app.router.add_post("/cameras/{name}/rewind", self._rewind)
        return app

    async def start(self) -> None:
        now = asyncio.get_running_loop().time()
        for cam in self.cameras.values():
            cam.t0 = now
        self._runner = web.AppRunner(self._app(), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        # Port 0 asks the OS for a free one; the runner says which it bound.
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for cam in self.cameras.values():
            for ev in cam.streams:
                ev.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def live_index(self, cam: LiveCamera) -> int:
        return cam.index_at(asyncio.get_running_loop().time())

    def rewind(self, name: str) -> None:
        """Start ``name``'s clip again from frame 0 now (e.g. so a test knows when the fire starts)."""
        self.cameras[name].t0 = asyncio.get_running_loop().time()
        log.info("camera %s rewound", name)

    def cut(self, name: str) -> int:
        """Cut ``name``: its open streams drop now and new ones get 503. Returns how many streams were dropped."""
        cam = self.cameras[name]
        cam.cut = True
        for ev in cam.streams:
            ev.set()
        log.info("camera %s cut (%d streams dropped)", name, len(cam.streams))
        return len(cam.streams)

    def freeze(self, name: str) -> None:
        """Stall ``name``: its streams stay connected but get no frames (what a stale-stream watchdog must catch)."""
        self.cameras[name].frozen = True
        log.info("camera %s frozen", name)

    def restore(self, name: str) -> None:
        """Undo ``cut`` and ``freeze``."""
        cam = self.cameras[name]
        cam.cut = cam.frozen = False
        log.info("camera %s restored", name)

    def _camera(self, request: web.Request) -> tuple[str, LiveCamera]:
        name = request.match_info["name"]
        cam = self.cameras.get(name)
        if cam is None:
            raise web.HTTPNotFound(text=f'{{"error": "no camera {name!r}"}}', content_type="application/json")
        return name, cam

    @staticmethod
    def _refuse_if_cut(name: str, cam: LiveCamera) -> None:
        if cam.cut:
            raise web.HTTPServiceUnavailable(
                text=f'{{"error": "camera {name} is cut"}}', content_type="application/json"
            )

    async def _list(self, request: web.Request) -> web.Response:
        now = asyncio.get_running_loop().time()
        return web.json_response([cam.describe(name, now) for name, cam in self.cameras.items()])

    async def _snapshot(self, request: web.Request) -> web.Response:
        name, cam = self._camera(request)
        self._refuse_if_cut(name, cam)
        index = self.live_index(cam) % cam.spec.frame_count
        jpeg = await cam.jpeg(index)
        headers = {"Cache-Control": "no-store", "X-Frame-Index": str(index)}
        return web.Response(body=jpeg, content_type="image/jpeg", headers=headers)

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        name, cam = self._camera(request)
        self._refuse_if_cut(name, cam)
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
                "Connection": "close",
            }
        )
        resp.force_close()
        await resp.prepare(request)
        dropped = asyncio.Event()
        cam.streams.add(dropped)
        loop = asyncio.get_running_loop()
        try:
            while not dropped.is_set():
                index = self.live_index(cam)
                if not cam.frozen:
                    frame = index % cam.spec.frame_count
                    jpeg = await cam.jpeg(frame)
                    head = (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
                        f"X-Frame-Index: {frame}\r\n\r\n"
                    ).encode()
                    await resp.write(head + jpeg + b"\r\n")
                    cam.frames_sent += 1
                next_at = cam.t0 + (index + 1) / cam.spec.fps
                # Paced by the clip's clock; a cut wakes it at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(dropped.wait(), max(0.0, next_at - loop.time()))
        except ConnectionError:  # the viewer went away: nothing to report
            return resp
        finally:
            cam.streams.discard(dropped)
        # A cut camera drops the connection without a clean end, as a camera losing power or network would.
        if request.transport is not None:
            request.transport.close()
        return resp

    async def _cut(self, request: web.Request) -> web.Response:
        name, _ = self._camera(request)
        dropped = self.cut(name)
        return web.json_response({"name": name, "cut": True, "dropped": dropped})

    async def _freeze(self, request: web.Request) -> web.Response:
        name, _ = self._camera(request)
        self.freeze(name)
        return web.json_response({"name": name, "frozen": True})

    async def _rewind(self, request: web.Request) -> web.Response:
        name, _ = self._camera(request)
        self.rewind(name)
        return web.json_response({"name": name, "frame_index": 0})

    async def _restore(self, request: web.Request) -> web.Response:
        name, _ = self._camera(request)
        self.restore(name)
        return web.json_response({"name": name, "cut": False, "frozen": False})
