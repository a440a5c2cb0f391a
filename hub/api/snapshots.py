"""Camera snapshots: the latest JPEG a node published per camera and label, as the hub stored it."""

from __future__ import annotations

import hashlib
from email.utils import formatdate

from aiohttp import web

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.routes import ApiError, Call, Route


def routes(ctx: ApiContext) -> list[Route]:
    async def snapshot(call: Call) -> web.StreamResponse:
        info = call.request.match_info
        node_id, camera, label = info["node_id"], info["camera"], info["label"]
        found = await ctx.read(ctx.state.snapshot, node_id, camera, label)
        if found is None:
            raise ApiError(404, f"no snapshot of {node_id}/{camera}/{label}")
        received, jpeg = found
        etag = f'"{hashlib.sha256(jpeg).hexdigest()[:32]}"'
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(received, usegmt=True),
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if etag in call.request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=jpeg, content_type="image/jpeg", headers=headers)

    return [
        Route(
            "GET",
            "/api/snapshots/{node_id}/{camera}/{label}",
            snapshot,
            "The latest camera snapshot (JPEG) a node published for a camera and label",
            Role.VIEWER,
            "nodes",
            content_type="image/jpeg",
            errors=(404,),
            description="The JPEG bytes as the node published them on `<prefix>/v1/<node_id>/snapshot/<camera>/<label>`"
            " (the topic a `camera_fire` alert names in `details.snapshot`). `ETag` and `Last-Modified` (when the hub "
            "received it) come with it; `If-None-Match` with the ETag answers 304.",
        ),
    ]
