"""One live MJPEG camera behind HTTP Basic auth, as an IP camera on a site's network is: for the hub's live relay.

GET /mjpeg   multipart/x-mixed-replace JPEG stream of a rendered clip, looping at its fps (401 without the credentials)

It keeps what a test needs to know from the camera's side: the Authorization headers it was sent, how many streams
are open and how many have closed. ``end_streams()`` ends every open stream cleanly (a camera going away).

    python -m simulators.camera.guarded --port 8555 --user admin --password-env CAM_PASSWORD
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import signal
import threading

import cv2
from aiohttp import web

from simulators.camera.presets import preset
from simulators.camera.render import Renderer

BOUNDARY = "guardedframe"


def render_jpegs(name: str, frames: int, width: int, height: int) -> tuple[list[bytes], float]:
    """The first ``frames`` frames of preset ``name`` as JPEGs, and its fps: encoded once, looped for every viewer."""
    spec = preset(name, width=width, height=height, seconds=max(1.0, frames / 5.0))
    renderer = Renderer(spec)
    jpegs = []
    for i in range(min(frames, renderer.frame_count)):
        ok, buf = cv2.imencode(".jpg", renderer.render(i)[0], [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR frame
            raise RuntimeError("JPEG encoding failed")
        jpegs.append(buf.tobytes())
    return jpegs, spec.fps


class GuardedCamera:
    """Serves on 127.0.0.1 from a thread of its own (``start()`` / ``stop()``), so a test can drive it synchronously."""

    def __init__(
        self,
        username: str,
        password: str,
        *,
        preset_name: str = "forest_fire_day",
        frames: int = 10,
        size: tuple[int, int] = (320, 180),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.jpegs, self.fps = render_jpegs(preset_name, frames, *size)
        self.host, self.port = host, port
        self.authorizations: list[str] = []  # every Authorization header received, in order ("" for none)
        self.open_streams = 0
        self.closed_streams = 0
        self.frames_sent = 0
        self._ending: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True, name="guarded-camera")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/mjpeg"

    def start(self) -> GuardedCamera:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the camera did not start")
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def end_streams(self) -> None:
        """Every open stream ends now, with a clean end of the response (the camera went away)."""
        assert self._ending is not None
        self._loop.call_soon_threadsafe(self._ending.set)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._ending = asyncio.Event()
        app = web.Application()
        app.router.add_get("/mjpeg", self._mjpeg)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        if self._ending is not None:
            self._ending.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        sent = request.headers.get("Authorization", "")
        self.authorizations.append(sent)
        if sent != self.expected:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="camera"'}, text="401")
        assert self._ending is not None
        resp = web.StreamResponse(
            headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-store"}
        )
        await resp.prepare(request)
        self.open_streams += 1
        try:
            i = 0
            while not self._ending.is_set():
                jpeg = self.jpegs[i % len(self.jpegs)]
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                await resp.write(head + jpeg + b"\r\n")
                self.frames_sent += 1
                i += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0 / self.fps):
                        await self._ending.wait()
            await resp.write_eof()
        except ConnectionError:  # the viewer (the hub) closed the connection: what a test waits to see
            pass
        finally:
            self.open_streams -= 1
            self.closed_streams += 1
        return resp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8555)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password-env", default="CAM_PASSWORD", help="the variable holding the password")
    parser.add_argument("--preset", default="forest_fire_day")
    parser.add_argument("--frames", type=int, default=100)
    args = parser.parse_args(argv)
    password = os.environ.get(args.password_env)
    if not password:
        parser.error(f"set the camera's password in ${args.password_env}")
    camera = GuardedCamera(
        args.user, password, preset_name=args.preset, frames=args.frames, host=args.host, port=args.port
    ).start()
    print(f"serving {camera.url} (Basic auth, user {args.user}); Ctrl-C stops", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    camera.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
