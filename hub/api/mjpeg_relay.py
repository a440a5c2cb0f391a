"""A camera's live MJPEG stream relayed through the hub, so the browser never learns the camera's address or login.

The hub opens the configured ``mjpeg_url`` with the camera's credentials (HTTP Basic, the password read from its
Secret when a view opens) and copies the multipart body to the browser as it comes. Nothing about the upstream (URL,
host, user, the client library's own error text, which names the host) goes into a response or a log line: errors
say only what kind of failure it was.
"""

from __future__ import annotations

import asyncio
import base64
import logging

import aiohttp
from aiohttp import web
from yarl import URL

from hub.api.console_settings import LiveCamera
from hub.api.routes import ApiError

log = logging.getLogger(__name__)

CONNECT_S = 5.0  # connect and response headers: a camera that answers later than this is not worth waiting for
STALL_S = 15.0  # no byte for this long: the camera stalled; the view ends (which also notices a viewer gone)
CHUNK = 64 * 1024


class LiveRelay:
    """Counts the live views open at once across all cameras, and relays one."""

    def __init__(self, max_viewers: int, max_s: float) -> None:
        self.max_viewers = max_viewers
        self.max_s = max_s
        self.viewers = 0
        self._upstreams: set[aiohttp.ClientResponse] = set()

    def close_all(self) -> None:
        """Ends every open view now, cleanly (for the app's on_shutdown: aiohttp would otherwise wait for each
        stream up to its shutdown timeout before the hub can stop)."""
        for upstream in list(self._upstreams):
            upstream.close()

    async def relay(self, request: web.Request, camera: LiveCamera) -> web.StreamResponse:
        """Raises ApiError (429, 502, 503, 504) before the stream starts; once started, it ends quietly."""
        if self.viewers >= self.max_viewers:
            raise ApiError(429, f"{self.max_viewers} live views are open already; close one and try again")
        self.viewers += 1
        try:
            return await self._relay(request, camera)
        finally:
            self.viewers -= 1

    async def _relay(self, request: web.Request, camera: LiveCamera) -> web.StreamResponse:
        who = f"{camera.node_id}/{camera.camera}"
        url, auth = await _upstream(camera)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_S, sock_read=STALL_S)
        # A session per view: a handful of views at most, and nothing shared to clean up when the hub stops.
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False, trust_env=False) as session:
            try:
                async with asyncio.timeout(CONNECT_S):
                    upstream = await session.get(url, headers=auth, allow_redirects=False)
            except TimeoutError:
                log.warning("live view of %s: the camera did not answer within %.0f s", who, CONNECT_S)
                raise ApiError(504, "the camera did not answer in time") from None
            except aiohttp.ClientError as exc:
                log.warning("live view of %s: the camera could not be reached (%s)", who, type(exc).__name__)
                raise ApiError(502, "the camera could not be reached") from None
            async with upstream:
                kind = upstream.headers.get("Content-Type", "")
                if upstream.status in (401, 403):
                    log.warning("live view of %s: the camera refused the hub's credentials (%d)", who, upstream.status)
                    raise ApiError(502, "the camera refused the hub's credentials")
                if upstream.status != 200 or not kind.lower().startswith("multipart/x-mixed-replace"):
                    log.warning("live view of %s: the camera answered %d, not an MJPEG stream", who, upstream.status)
                    raise ApiError(502, "the camera did not send an MJPEG stream")
                self._upstreams.add(upstream)
                try:
                    return await self._copy(request, upstream, kind, who)
                finally:
                    self._upstreams.discard(upstream)

    async def _copy(
        self, request: web.Request, upstream: aiohttp.ClientResponse, kind: str, who: str
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={
                "Content-Type": kind,  # carries the camera's multipart boundary, which the browser needs
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "X-Accel-Buffering": "no",  # an IOC's reverse proxy must pass frames on, not buffer the stream
            }
        )
        await resp.prepare(request)
        why = "the camera ended the stream"
        try:
            async with asyncio.timeout(self.max_s):
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await resp.write(chunk)
        except TimeoutError:
            # Either the view's time is up or the camera stalled (sock_read): both end the view the same way.
            why = "the view's time was up or the camera stalled"
        except ConnectionError:
            why = "the viewer left"  # the browser dropped the <img>: leaving the block closes the camera's connection
        except aiohttp.ClientError as exc:
            why = f"the camera's connection failed ({type(exc).__name__})"
        log.info("live view of %s ended: %s", who, why)
        return resp


async def _upstream(camera: LiveCamera) -> tuple[URL, dict[str, str]]:
    """The URL without any user info, and the Basic credentials' header (the configured ones, else the URL's)."""
    url = URL(str(camera.mjpeg_url))
    user, password = camera.username, ""
    if camera.password is not None:
        try:
            password = await asyncio.to_thread(camera.password.read)  # an env variable or a small file
        except (OSError, ValueError):
            log.error("live view of %s/%s: its password could not be read", camera.node_id, camera.camera)
            raise ApiError(503, "the camera's password is not available on the hub") from None
    if user is None and url.user is not None:
        user, password = url.user, url.password or ""
    if user is None:
        return url.with_user(None), {}
    # Built here rather than with aiohttp's helpers, which moved between the versions the project allows.
    basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return url.with_user(None), {"Authorization": f"Basic {basic}"}
