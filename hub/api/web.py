"""The operator page: static files from hub/web, served by the hub itself (no CDN, no build step)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from hub.api.routes import ApiError, Call, Route

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
# Only these files are served: a fixed list leaves no path to traverse.
FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}
HEADERS = {
    # Everything comes from the hub; no inline script, so an alert message can never run as code. blob: images are
    # the camera snapshots the page fetches with its token (an <img src> cannot send the Authorization header).
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def _file(name: str) -> web.Response:
    content_type = FILES.get(name)
    if content_type is None:
        raise ApiError(404, f"no such file: {name}")
    body = await asyncio.to_thread((WEB_DIR / name).read_bytes)  # a file read, off the event loop
    return web.Response(body=body, content_type=content_type, charset="utf-8", headers=HEADERS)


def routes() -> list[Route]:
    async def index(call: Call) -> web.StreamResponse:
        return await _file("index.html")

    async def asset(call: Call) -> web.StreamResponse:
        return await _file(call.request.match_info["name"])

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
            "/web/{name}",
            asset,
            "The page's script and style sheet (app.js, style.css)",
            None,
            "page",
            content_type="text/plain",
            responses={},
            errors=(404,),
        ),
    ]
