"""Monitoring and registry routes: /healthz, /metrics (open), nodes with their health, dead letters, whoami."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.models import Ability, DeadLetterList, LimitQuery, NodeHealth, NodeList, NodeOut, Whoami
from hub.api.routes import Call, Route

MAY: dict[Role, list[Ability]] = {
    Role.VIEWER: ["read"],
    Role.OFFICER: ["read", "acknowledge"],
    Role.HYDROLOGY: ["read", "acknowledge", "change_thresholds"],
    Role.ADMIN: ["read", "acknowledge", "change_thresholds", "reload", "configure_nodes"],
}


class HealthOut(BaseModel):
    """/healthz: 200 with status ok, 503 with status degraded (MQTT down); other fields are the pipeline's."""

    model_config = ConfigDict(extra="allow")

    status: str
    mqtt_connected: bool


def node_out(item: dict[str, Any], now: float, offline_after_s: float) -> NodeOut:
    """A registry row with whether the node is online and how healthy it looks."""
    last = item.get("last_seen")
    state = item.get("state")
    status = item.get("last_status") or {}
    problems: list[str] = []
    health: NodeHealth
    if not isinstance(last, float | int):
        online, health = False, "never_seen"
        problems.append("no message from this node yet")
    else:
        fresh = now - last < offline_after_s
        online = fresh and state not in ("offline", "stopped")
        if not fresh:
            problems.append(f"silent for {now - last:.0f} s (offline after {offline_after_s:.0f} s)")
        if state in ("offline", "stopped"):
            problems.append(f"reported {state}")
        if status.get("last_error"):
            problems.append(f"last error: {status['last_error']}")
        if status.get("outbox_dropped"):
            problems.append(f"outbox dropped {status['outbox_dropped']} messages")
        health = "offline" if not online else ("degraded" if problems else "ok")
    return NodeOut(**item, online=online, health=health, problems=problems)


def routes(ctx: ApiContext) -> list[Route]:
    async def healthz(call: Call) -> web.StreamResponse:
        health = ctx.pipeline.health()
        ok = bool(health["mqtt_connected"])
        body = {"status": "ok" if ok else "degraded", **health}
        return web.json_response(body, status=200 if ok else 503, dumps=lambda o: json.dumps(o, default=str))

    async def metrics(call: Call) -> web.StreamResponse:
        # Off the loop: other parts' lines (the notification queue's depth) come from SQLite.
        text = await asyncio.to_thread(ctx.metrics.render)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def nodes(call: Call) -> NodeList:
        items = await ctx.read(ctx.state.nodes)
        now = time.time()
        return NodeList(nodes=[node_out(item, now, ctx.offline_after_s) for item in items])

    def letters(limit: int) -> dict[str, object]:
        return {"count": ctx.state.dead_letter_count(), "items": ctx.state.dead_letters(limit)}

    async def dead_letters(call: Call) -> DeadLetterList:
        q: LimitQuery = call.query
        return DeadLetterList.model_validate(await ctx.read(letters, q.limit))

    async def whoami(call: Call) -> Whoami:
        assert call.principal is not None
        role = call.principal.role
        return Whoami(name=call.principal.name, role=role, may=MAY[role], warnings=ctx.warnings_enabled)

    return [
        Route(
            "GET",
            "/healthz",
            healthz,
            "Liveness and ingest health (open, for monitoring)",
            None,
            "monitoring",
            response=HealthOut,
            responses={503: HealthOut},
        ),
        Route(
            "GET",
            "/metrics",
            metrics,
            "Prometheus metrics (open, for monitoring)",
            None,
            "monitoring",
            content_type="text/plain",
        ),
        Route(
            "GET",
            "/api/whoami",
            whoami,
            "The token's holder and what the role may do",
            Role.VIEWER,
            "auth",
            response=Whoami,
        ),
        Route(
            "GET",
            "/api/nodes",
            nodes,
            "Registered and heard nodes, online or not, with their health",
            Role.VIEWER,
            "nodes",
            response=NodeList,
        ),
        Route(
            "GET",
            "/api/dead-letters",
            dead_letters,
            "The newest messages the hub could not use, with the reason",
            Role.VIEWER,
            "nodes",
            query=LimitQuery,
            response=DeadLetterList,
            errors=(422,),
        ),
    ]
