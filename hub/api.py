"""The hub's HTTP face: /healthz, /metrics, /api/nodes, /api/dead-letters."""

from __future__ import annotations

import time

from aiohttp import web

from hub.ingest.pipeline import IngestPipeline
from hub.metrics import Metrics
from hub.store.state import HubState


def make_app(pipeline: IngestPipeline, metrics: Metrics, state: HubState, offline_after_s: float) -> web.Application:
    """``state`` is a read-only connection of the API's own (the writer thread owns the other)."""
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        health = pipeline.health()
        ok = bool(health["mqtt_connected"])
        return web.json_response({"status": "ok" if ok else "degraded", **health}, status=200 if ok else 503)

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    async def nodes(request: web.Request) -> web.Response:
        now = time.time()
        items = state.nodes()
        for item in items:
            last = item.get("last_seen")
            fresh = isinstance(last, float) and now - last < offline_after_s
            item["online"] = bool(fresh and item.get("state") not in ("offline", "stopped"))
        return web.json_response({"nodes": items})

    async def dead_letters(request: web.Request) -> web.Response:
        try:
            limit = max(1, min(int(request.query.get("limit", "100")), 1000))
        except ValueError:
            raise web.HTTPBadRequest(text="limit must be an integer") from None
        return web.json_response({"count": state.dead_letter_count(), "items": state.dead_letters(limit)})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/api/nodes", nodes)
    app.router.add_get("/api/dead-letters", dead_letters)
    return app
