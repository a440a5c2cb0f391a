"""The hub's HTTP face: /healthz, /metrics, /api/nodes, /api/dead-letters."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from hub.alerts.engine import AlertEngine
from hub.alerts.store import AlertStore
from hub.ingest.pipeline import IngestPipeline
from hub.metrics import Metrics
from hub.store.state import HubState


def make_app(
    pipeline: IngestPipeline,
    metrics: Metrics,
    state: HubState,
    offline_after_s: float,
    *,
    engine: AlertEngine | None = None,
    alerts: AlertStore | None = None,
) -> web.Application:
    """``state`` and ``alerts`` are read-only connections of the API's own (the writer thread owns the others)."""
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

    async def list_alerts(request: web.Request) -> web.Response:
        if alerts is None:
            raise web.HTTPNotFound(text="the alert engine is not configured")
        q = request.query
        active = {"true": True, "false": False}.get(q.get("active", ""))
        items = alerts.alarms(
            active=active, rule=q.get("rule"), area=q.get("area"), limit=min(int(q.get("limit", 200)), 1000)
        )
        return web.json_response({"alerts": [a.model_dump(mode="json") for a in items]})

    async def ack_alert(request: web.Request) -> web.Response:
        if engine is None:
            raise web.HTTPNotFound(text="the alert engine is not configured")
        try:
            body = await request.json()
            who, comment = str(body["by"]), body.get("comment")
        except (ValueError, KeyError, TypeError):
            raise web.HTTPBadRequest(text='send JSON {"by": "<name>", "comment": "..."}') from None
        alarm = await asyncio.to_thread(engine.acknowledge, request.match_info["alarm_id"], who, comment)
        if alarm is None:
            raise web.HTTPNotFound(text="no such alert")
        return web.json_response(alarm.model_dump(mode="json"))

    app.router.add_get("/api/alerts", list_alerts)
    app.router.add_post("/api/alerts/{alarm_id}/ack", ack_alert)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/api/nodes", nodes)
    app.router.add_get("/api/dead-letters", dead_letters)
    return app
