"""Cameras: every camera the hub knows, each one's event history, and its live view relayed by the hub."""

from __future__ import annotations

import asyncio
import http.client
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field

from hub.alerts.rules.camera import LABEL_VI
from hub.api.auth import Role
from hub.api.console_settings import LiveCamera
from hub.api.context import ApiContext
from hub.api.mjpeg_relay import LiveRelay
from hub.api.nodes import node_out
from hub.api.routes import ApiError, Call, Route
from hub.store.influx_query import InfluxReader
from wire.messages import IDENTIFIER_PATTERN

log = logging.getLogger(__name__)

KNOWN_DAYS = 7  # a camera whose last event is older than this and that no status or config names is not listed
MAX_POINTS = 5000  # event points read for one camera's history (an event is several: new, updates, end)
IDENT = re.compile(IDENTIFIER_PATTERN)
CameraState = Literal["ok", "camera_down", "node_offline", "unknown"]


class CameraEvent(BaseModel):
    """One detection's life as the node reported it (new, updates, end), merged from its stored points."""

    event_id: str
    label: str
    label_vi: str = Field(description="The label in Vietnamese (fire: Lửa, smoke: Khói, ...)")
    start: datetime = Field(description="Its first report")
    end: datetime | None = Field(description="When the node said it ended; null while it goes on")
    score: float = Field(description="The latest score")
    top_score: float
    box: tuple[float, float, float, float] | None = Field(description="ymin, xmin, ymax, xmax, normalised 0-1")
    snapshot: str | None = Field(description="API path of the label's latest snapshot (JPEG), when one was sent")
    zones: list[str]


class CameraOut(BaseModel):
    node_id: str
    node_name: str | None
    camera: str
    name: str = Field(description="The console's name for it, else the camera id")
    state: CameraState = Field(
        description="ok: the node is online and reads the camera; camera_down: the node cannot; node_offline; "
        "unknown: nothing reported"
    )
    fps: float | None = Field(description="Frames analysed per second (the node's last status)")
    infer_ms: float | None = Field(description="Detector time per frame, ms (the node's last status)")
    last_event: CameraEvent | None = Field(description="The newest event point, as an event of its own")
    snapshot: str | None = Field(description="API path of the newest snapshot the hub holds for this camera")
    live: bool = Field(description="A live view is configured (GET .../live); the camera's address is never shown")


class CameraList(BaseModel):
    cameras: list[CameraOut]
    count: int
    events: bool = Field(description="False when the hub has no InfluxDB to read events from, or it did not answer")
    live_max_s: float = Field(
        description="A live view ends after this many seconds (the page says so, and offers more)"
    )


class EventsQuery(BaseModel):
    hours: float = Field(24.0, gt=0, le=24 * 31, description="How far back")
    limit: int = Field(200, ge=1, le=1000, description="At most this many events, newest first")


class CameraEvents(BaseModel):
    node_id: str
    camera: str
    hours: float
    events: list[CameraEvent] = Field(description="Newest first")
    truncated: bool = Field(description="More events than the limit (or points than the hub reads) in the window")


def _quoted(value: str) -> str:
    """An identifier as an InfluxQL string literal (identifiers have no quote or backslash: checked, not escaped)."""
    if not IDENT.fullmatch(value):
        raise ApiError(404, "no such camera")
    return f"'{value}'"


def _iso(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _box(row: dict[str, Any]) -> tuple[float, float, float, float] | None:
    parts = [row.get(k) for k in ("box_ymin", "box_xmin", "box_ymax", "box_xmax")]
    if any(not isinstance(p, int | float) for p in parts):
        return None  # points written before the hub stored boxes
    ymin, xmin, ymax, xmax = (float(p) for p in parts)  # type: ignore[arg-type]
    return ymin, xmin, ymax, xmax


def merge_events(rows: list[dict[str, Any]]) -> list[CameraEvent]:
    """Points (any order) to events, newest first: start at the first point, end at an ``end`` phase, the latest
    score, box and snapshot, the highest top score."""
    by_event: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_event.setdefault((str(row.get("label")), str(row.get("event_id"))), []).append(row)
    events = []
    for (label, event_id), points in by_event.items():
        points.sort(key=lambda r: r["time"])
        last = points[-1]
        ended = [p["time"] for p in points if p.get("phase") == "end"]
        snapshot = next((p["snapshot"] for p in reversed(points) if p.get("snapshot")), None)
        events.append(
            CameraEvent(
                event_id=event_id,
                label=label,
                label_vi=LABEL_VI.get(label, label),
                start=_iso(points[0]["time"]),
                end=_iso(ended[-1]) if ended else None,
                score=float(last.get("score") or 0.0),
                top_score=max(float(p.get("top_score") or 0.0) for p in points),
                box=next((b for p in reversed(points) if (b := _box(p)) is not None), None),
                snapshot=snapshot,
                zones=[z for z in str(last.get("zones") or "").split(",") if z],
            )
        )
    events.sort(key=lambda e: e.start, reverse=True)
    return events


def _camera_metrics(extra: dict[str, Any]) -> dict[str, dict[str, float]]:
    """cam.<camera>.<metric> of a status's extras, by camera (a camera id may itself hold dots)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in extra.items():
        if key.startswith("cam.") and key.count(".") >= 2:
            camera, metric = key[4:].rsplit(".", 1)
            out.setdefault(camera, {})[metric] = value
    return out


def _state(online: bool, seen: bool, metrics: dict[str, float]) -> CameraState:
    if not seen:
        return "unknown"
    if not online:
        return "node_offline"
    connected = metrics.get("connected")
    if connected is not None and not connected:
        return "camera_down"
    return "ok" if metrics else "unknown"


def assemble(
    nodes: list[dict[str, Any]],
    snapshots: dict[str, list[dict[str, Any]]],
    rows: list[dict[str, Any]],
    live_cameras: dict[tuple[str, str], LiveCamera],
    now: float,
    offline_after_s: float,
) -> list[CameraOut]:
    """One entry per (node, camera) named by a status, an event point, a stored snapshot or the console config."""
    by_node = {str(n["node_id"]): n for n in nodes}
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(node_id: str, camera: str) -> dict[str, Any]:
        return found.setdefault((node_id, camera), {"metrics": {}, "last": None, "snapshots": []})

    for item in nodes:
        status = item.get("last_status") or {}
        for camera, metrics in _camera_metrics(status.get("extra") or {}).items():
            entry(str(item["node_id"]), camera)["metrics"] = metrics
    for row in rows:
        entry(str(row["node_id"]), str(row["camera"]))["last"] = row
    for node_id, shots in snapshots.items():
        for shot in shots:
            entry(node_id, str(shot["camera"]))["snapshots"].append(shot)
    for key in live_cameras:
        entry(*key)

    out = []
    for (node_id, camera), info in sorted(found.items()):
        node = by_node.get(node_id)
        health = node_out(node, now, offline_after_s) if node else None
        metrics = info["metrics"]
        last = merge_events([info["last"]])[0] if info["last"] else None
        shots = sorted(info["snapshots"], key=lambda s: float(s["received"]))
        newest = shots[-1] if shots else None
        snapshot = f"/api/snapshots/{node_id}/{camera}/{newest['label']}" if newest else None
        configured = live_cameras.get((node_id, camera))
        out.append(
            CameraOut(
                node_id=node_id,
                node_name=(node or {}).get("name") or None,
                camera=camera,
                name=(configured.name if configured and configured.name else camera),
                state=_state(bool(health and health.online), bool(node and node.get("last_seen")), metrics),
                fps=metrics.get("fps"),
                infer_ms=metrics.get("infer_ms"),
                last_event=last,
                snapshot=snapshot,
                live=configured is not None,
            )
        )
    return out


def live_relay(ctx: ApiContext) -> LiveRelay:
    """The live views' relay for ``routes``; the app calls its ``close_all`` on shutdown."""
    return LiveRelay(ctx.console.live_max_viewers, ctx.console.live_max_s)


def routes(ctx: ApiContext, relay: LiveRelay | None = None) -> list[Route]:
    views = relay or live_relay(ctx)
    live_cameras: dict[tuple[str, str], LiveCamera] = {(c.node_id, c.camera): c for c in ctx.console.cameras}

    def influx_rows(q: str) -> list[dict[str, Any]]:
        assert ctx.influx is not None
        reader: InfluxReader = ctx.influx()
        try:
            return reader.query(q)
        finally:
            reader.close()

    async def query(q: str) -> list[dict[str, Any]] | None:
        """Rows, or None without an InfluxDB or when it failed (the page then says events are unavailable)."""
        if ctx.influx is None:
            return None
        try:
            return await asyncio.to_thread(influx_rows, q)
        except (OSError, http.client.HTTPException, RuntimeError, ValueError) as exc:
            log.warning("camera events: InfluxDB query failed (%s)", exc)
            return None

    def registry() -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        nodes = ctx.state.nodes()
        return nodes, {str(n["node_id"]): ctx.state.snapshots_of(str(n["node_id"])) for n in nodes}

    async def cameras(call: Call) -> CameraList:
        (nodes, snapshots), rows = await asyncio.gather(
            ctx.read(registry),
            query(
                f'SELECT * FROM "camera_event" WHERE time > now() - {KNOWN_DAYS}d '
                "GROUP BY node_id, camera ORDER BY time DESC LIMIT 1"
            ),
        )
        out = assemble(nodes, snapshots, rows or [], live_cameras, time.time(), ctx.offline_after_s)
        return CameraList(cameras=out, count=len(out), events=rows is not None, live_max_s=ctx.console.live_max_s)

    async def events(call: Call) -> CameraEvents:
        info = call.request.match_info
        node_id, camera = info["node_id"], info["camera"]
        q: EventsQuery = call.query
        rows = await query(
            f'SELECT * FROM "camera_event" WHERE node_id = {_quoted(node_id)} AND camera = {_quoted(camera)} '
            f"AND time > now() - {int(q.hours * 3600)}s ORDER BY time DESC LIMIT {MAX_POINTS}"
        )
        if rows is None:
            raise ApiError(503, "camera events are not available: the hub has no InfluxDB or it did not answer")
        merged = merge_events(rows)
        return CameraEvents(
            node_id=node_id,
            camera=camera,
            hours=q.hours,
            events=merged[: q.limit],
            truncated=len(merged) > q.limit or len(rows) >= MAX_POINTS,
        )

    async def live(call: Call) -> web.StreamResponse:
        info = call.request.match_info
        configured = live_cameras.get((info["node_id"], info["camera"]))
        if configured is None:
            raise ApiError(404, "this camera has no live view configured on the hub")
        if call.request.method == "HEAD":  # says a view exists without opening the camera or taking a viewer's place
            return web.Response(content_type="multipart/x-mixed-replace", headers={"Cache-Control": "no-store"})
        return await views.relay(call.request, configured)

    return [
        Route(
            "GET",
            "/api/cameras",
            cameras,
            "Every camera the hub knows, with its state, last event and newest snapshot",
            Role.VIEWER,
            "cameras",
            response=CameraList,
            description=f"Cameras named by a node's status (`cam.<camera>.*` extras), by an event in the last "
            f"{KNOWN_DAYS} days, by a stored snapshot or by the `console.cameras` config. `live` says whether "
            "`GET /api/cameras/{node_id}/{camera}/live` relays its stream; the camera's own URL never leaves the hub.",
        ),
        Route(
            "GET",
            "/api/cameras/{node_id}/{camera}/events",
            events,
            "One camera's detections over the last hours, newest first",
            Role.VIEWER,
            "cameras",
            query=EventsQuery,
            response=CameraEvents,
            errors=(404, 422, 503),
            description="Read from InfluxDB's `camera_event` points, merged per event: start, end, the latest score "
            "and box, the highest top score, the snapshot's API path.",
        ),
        Route(
            "GET",
            "/api/cameras/{node_id}/{camera}/live",
            live,
            "The camera's live MJPEG stream, relayed by the hub with the camera's credentials",
            Role.VIEWER,
            "cameras",
            content_type="multipart/x-mixed-replace",
            errors=(404, 429, 502, 503, 504),
            description="`multipart/x-mixed-replace` JPEG frames from the camera's `mjpeg_url` in `console.cameras`, "
            "opened by the hub with the camera's Basic credentials; neither reaches the client. At most "
            "`console.live_max_viewers` views at once (429 beyond), each ends after `console.live_max_s` seconds or "
            "when the camera stalls; 502/504 when the camera refuses or does not answer.",
        ),
    ]
