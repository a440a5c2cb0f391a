"""Monitoring and registry routes: /healthz, /metrics (open), nodes with their health, dead letters, whoami."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from hub.api.alerts import area_name
from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.models import (
    Ability,
    DeadLetter,
    DeadLetterList,
    LimitQuery,
    NodeBattery,
    NodeCamera,
    NodeDetail,
    NodeError,
    NodeHealth,
    NodeLink,
    NodeList,
    NodeListQuery,
    NodeOut,
    Whoami,
)
from hub.api.routes import ApiError, Call, Route
from hub.feeds.units import AdminUnits, load_units

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


# A node whose outbox dropped messages this recently is dropping them: its count only ever grows, so the count alone
# would keep a node that overflowed once, long ago, among those needing someone.
DROPPING_WINDOW_S = 24 * 3600


def node_out(item: dict[str, Any], now: float, offline_after_s: float, units: AdminUnits | None = None) -> NodeOut:
    """A registry row with whether the node is online, how healthy it looks, and its figures for the console."""
    item = dict(item)
    last = item.get("last_seen")
    state = item.get("state")
    status = item.get("last_status") or {}
    latest, battery, drop = item.pop("latest_error", None), item.pop("battery", None), item.get("last_drop_at")
    problems: list[str] = []
    health: NodeHealth
    link: NodeLink
    if not isinstance(last, float | int):
        online, health, link = False, "never_seen", "never_seen"
        problems.append("no message from this node yet")
    else:
        fresh = now - last < offline_after_s
        online = fresh and state not in ("offline", "stopped")
        link = state if state in ("offline", "stopped") else ("online" if fresh else "silent")
        if not fresh:
            problems.append(f"silent for {now - last:.0f} s (offline after {offline_after_s:.0f} s)")
        if state in ("offline", "stopped"):
            problems.append(f"reported {state}")
        if status.get("last_error"):
            problems.append(f"last error: {status['last_error']}")
        if status.get("outbox_dropped"):
            problems.append(f"outbox dropped {status['outbox_dropped']} messages")
        health = "offline" if not online else ("degraded" if problems else "ok")
    return NodeOut(
        **item,
        area_name=area_name(units, item.get("admin_code")),
        last_seen_ago_s=max(0.0, now - last) if isinstance(last, float | int) else None,
        online=online,
        health=health,
        link=link,
        problems=problems,
        battery=NodeBattery(**battery) if battery and battery.get("volts") is not None else None,
        cameras=cameras(status.get("extra") or {}),
        latest_error=error_out(latest, status) if latest else None,
        dropping=bool(status.get("outbox_dropped")) and drop is not None and now - drop < DROPPING_WINDOW_S,
    )


def error_out(row: dict[str, Any], status: dict[str, Any]) -> NodeError:
    return NodeError(**row, current=row["error"] == status.get("last_error"))


# What ?brief=true leaves out of each last_status: up to 256 figures a node, read from `cameras` or the node's own
# GET /api/nodes/{node_id}.
BULKY = frozenset({"extra", "models"})

# The per-camera figures the edge agent publishes as extra cam.<camera>.<figure> (edge/camera/pipeline.py stats()).
CAMERA_FIGURES = ("fps", "infer_ms", "connected", "reconnects", "errors")


def cameras(extra: dict[str, float]) -> list[NodeCamera]:
    """Per camera, by id. A camera id may itself hold dots; the figure's name is after the last one."""
    found: dict[str, dict[str, Any]] = {}
    for key, value in extra.items():
        if not key.startswith("cam."):
            continue
        camera, _, figure = key[4:].rpartition(".")
        if camera and figure in CAMERA_FIGURES:
            found.setdefault(camera, {})[figure] = bool(value) if figure == "connected" else value
    return [NodeCamera(camera=camera, **figures) for camera, figures in sorted(found.items())]


def node_list(ctx: ApiContext, brief: bool) -> NodeList:
    """Every node; built on the store thread with its query: for 500 nodes the models take longer than the SQL."""
    items, now, units = ctx.state.node_overview(), time.time(), load_units()
    out = [node_out(item, now, ctx.offline_after_s, units) for item in items]
    if brief:
        for node in out:
            if node.last_status:
                node.last_status = {k: v for k, v in node.last_status.items() if k not in BULKY}
    return NodeList(nodes=out)


def node_detail(ctx: ApiContext, node_id: str) -> NodeDetail | None:
    """One node with its kept errors and its recent dead letters; None for a node the hub does not know."""
    rows = ctx.state.node_overview(node_id)
    if not rows:
        return None
    out = node_out(rows[0], time.time(), ctx.offline_after_s, load_units())
    status = out.last_status or {}
    return NodeDetail(
        **out.model_dump(),
        errors=[error_out(e, status) for e in ctx.state.node_errors(node_id)],
        dead_letters=[DeadLetter.model_validate(d) for d in ctx.state.dead_letters_of(node_id)],
    )


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
        q: NodeListQuery = call.query
        return await ctx.read(node_list, ctx, q.brief)

    async def node(call: Call) -> NodeDetail:
        found = await ctx.read(node_detail, ctx, call.request.match_info["node_id"])
        if found is None:
            raise ApiError(404, "no such node")
        return found

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
            query=NodeListQuery,
            response=NodeList,
            errors=(422,),
        ),
        Route(
            "GET",
            "/api/nodes/{node_id}",
            node,
            "One node with its figures, its last few distinct errors and its recent dead letters",
            Role.VIEWER,
            "nodes",
            response=NodeDetail,
            errors=(404,),
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
