"""The operator page: static files from hub/web, served by the hub itself (no CDN, no build step).

The vendored libraries under hub/web/vendor (uPlot, Leaflet) come from the npm registry by scripts/vendor_web.sh."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

from aiohttp import web

from hub.api.context import ApiContext
from hub.api.routes import ApiError, Call, Route

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
# Only the files present at start are served: a fixed table leaves no path to traverse.
FILES = {
    p.relative_to(WEB_DIR).as_posix(): TYPES[p.suffix]
    for p in sorted(WEB_DIR.rglob("*"))
    if p.is_file() and p.suffix in TYPES
}
TEXT = ("text/html", "text/javascript", "text/css", "image/svg+xml")


def content_security_policy(tiles_url: str | None) -> str:
    """Everything from the hub; no inline script, so an alert message can never run as code. blob: images are the
    camera snapshots the page fetches; a configured tile server's origin is the one other place images may come from.
    Leaflet and uPlot set element styles from script (CSSOM), which style-src 'self' allows."""
    img = "'self' data: blob:"
    if tiles_url:
        parts = urllib.parse.urlsplit(tiles_url.replace("{s}", "a"))
        host = parts.netloc.replace("{s}", "*")
        img += f" {parts.scheme}://{host}"
    return (
        f"default-src 'self'; img-src {img}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def routes(ctx: ApiContext) -> list[Route]:
    headers = {
        "Content-Security-Policy": content_security_policy(ctx.console.map.tiles_url),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    vendor_headers = {**headers, "Cache-Control": "public, max-age=86400"}  # pinned versions: safe to cache a day

    async def file(name: str) -> web.Response:
        content_type = FILES.get(name)
        if content_type is None:
            raise ApiError(404, f"no such file: {name}")
        body = await asyncio.to_thread((WEB_DIR / name).read_bytes)  # a file read, off the event loop
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8" if content_type in TEXT else None,
            headers=vendor_headers if name.startswith("vendor/") else headers,
        )

    async def index(call: Call) -> web.StreamResponse:
        return await file("index.html")

    async def asset(call: Call) -> web.StreamResponse:
        return await file(call.request.match_info["name"])

    return [
        Route(
            "GET",
            "/",
            index,
            "The operator page (asks for a token in the browser)",
            None,
            "page",
            content_type="text/html",
        ),
        Route(
            "GET",
            "/web/{name:.+}",
            asset,
            "The page's scripts, style sheets and vendored libraries (hub/web)",
            None,
            "page",
            content_type="text/plain",
            responses={},
            errors=(404,),
        ),
    ]
