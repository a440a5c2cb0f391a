"""gzip for the API's and the page's text answers, when the browser accepts it.

At IOC scale the console's answers are text that shrinks five- to tenfold (500 stations, 600 map points, 200 alarms;
Leaflet itself): the page's transfer target (docs/console.md) is met by compressing, not by cryptic field names."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.hdrs import CONTENT_ENCODING
from aiohttp.web import ContentCoding

MIN_BYTES = 1024  # below this the gzip header and the CPU cost more than they save
TEXT_TYPES = ("application/json", "text/html", "text/javascript", "text/css", "image/svg+xml", "application/xml")


def accepts_gzip(header: str) -> bool:
    """RFC 9110 Accept-Encoding: gzip named with a weight above 0, or not named and ``*`` above 0."""
    weights: dict[str, float] = {}
    for part in header.lower().split(","):
        coding, _, params = part.partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0  # a weight that cannot be read is no consent
        weights[coding.strip()] = q
    return weights.get("gzip", weights.get("*", 0.0)) > 0


@web.middleware
async def compress(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    resp = await handler(request)
    # A stream (server-sent events, a live camera) was sent as it went: only whole answers not yet sent qualify.
    if not isinstance(resp, web.Response) or resp.prepared or resp.compression or CONTENT_ENCODING in resp.headers:
        return resp
    body = resp.body
    if not isinstance(body, bytes | bytearray) or len(body) < MIN_BYTES or resp.content_type not in TEXT_TYPES:
        return resp
    resp.headers.add("Vary", "Accept-Encoding")
    if accepts_gzip(request.headers.get("Accept-Encoding", "")):
        resp.enable_compression(ContentCoding.gzip)
    return resp
