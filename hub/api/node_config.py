"""Remote configuration and model files: what a node should run, what it runs, and the files it fetches."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import Field

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.models import Problem, _Body
from hub.api.routes import ApiError, Call, Route
from hub.remote_config import InvalidNodeConfig

SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ConfigIn(_Body):
    version: str = Field(min_length=1, max_length=64, description="Your name for this configuration; nodes report it")
    config: dict[str, Any] = Field(description="A whole node configuration, as in firmware_configs/ (JSON form)")


class DesiredOut(_Body):
    version: str
    config: dict[str, Any]
    set_at: float
    set_by: str


class NodeConfigOut(_Body):
    node_id: str
    desired: DesiredOut | None = Field(None, description="What the hub asks the node to run (published retained)")
    applied_version: str | None = Field(None, description="The remote config version the node last reported")
    refused: str | None = Field(None, description="Why the node refused the last config it was sent, if it did")
    in_sync: bool = Field(description="The node reports the desired version and no refusal (of it or its models)")
    published: bool | None = Field(None, description="On a PUT: reached the broker now (else on the next connect)")


def _view(ctx: ApiContext, node_id: str, published: bool | None = None) -> NodeConfigOut:
    assert ctx.configs is not None
    desired = ctx.configs.store.get(node_id)
    status: dict[str, Any] = {}
    for item in ctx.state.nodes():
        if item["node_id"] == node_id:
            status = item.get("last_status") or {}  # type: ignore[assignment]
    applied = status.get("config_version")
    return NodeConfigOut(
        node_id=node_id,
        desired=DesiredOut(**{k: getattr(desired, k) for k in ("version", "config", "set_at", "set_by")})
        if desired
        else None,
        applied_version=applied,
        refused=status.get("config_error"),
        in_sync=desired is not None and applied == desired.version and not status.get("config_error"),
        published=published,
    )


def _model_path(models_dir: Path | None, parts: tuple[str, str, str]) -> Path:
    """The model file a node asks for; the parts come from the URL, so only plain names may reach the disk."""
    if models_dir is None:
        raise ApiError(404, "this hub serves no models (set models_dir in the hub config)")
    if not all(SAFE_PART.match(p) and ".." not in p for p in parts):
        raise ApiError(404, "no such model file")
    path = models_dir.joinpath(*parts)
    if not path.is_file():
        raise ApiError(404, f"no model file {'/'.join(parts)}")
    return path


def _model_file(models_dir: Path | None, parts: tuple[str, str, str]) -> tuple[bytes, str]:
    """The file's bytes and its ETag (the sha256 a node's config pins it by)."""
    body = _model_path(models_dir, parts).read_bytes()
    return body, f'"{hashlib.sha256(body).hexdigest()}"'


def routes(ctx: ApiContext) -> list[Route]:
    def need_configs() -> None:
        if ctx.configs is None:
            raise ApiError(503, "remote configuration is not available on this hub")

    async def get_config(call: Call) -> NodeConfigOut:
        need_configs()
        return await ctx.read(_view, ctx, call.request.match_info["node_id"])

    async def put_config(call: Call) -> NodeConfigOut:
        need_configs()
        assert ctx.configs is not None
        node_id = call.request.match_info["node_id"]
        body: ConfigIn = call.body
        try:
            # A write (SQLite, then the publish): in a worker, like every operator write (docs/concurrency.md).
            _, sent = await asyncio.to_thread(ctx.configs.set, node_id, body.version, body.config, call.who)
        except InvalidNodeConfig as exc:
            problems = [Problem(field=f"config.{f}", reason=r) for f, r in exc.problems]
            raise ApiError(422, f"not a valid configuration for {node_id}", problems=problems) from None
        return await ctx.read(_view, ctx, node_id, published=sent)

    async def model_file(call: Call) -> web.StreamResponse:
        info = call.request.match_info
        parts = (info["name"], info["version"], info["file"])
        # Models are megabytes: reading and hashing them would hold the loop for every other request.
        body, etag = await asyncio.to_thread(_model_file, ctx.models_dir, parts)
        if etag in call.request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/octet-stream", headers={"ETag": etag})

    return [
        Route(
            "GET",
            "/api/nodes/{node_id}/config",
            get_config,
            "The configuration the hub wants a node to run, and the version the node reports",
            Role.VIEWER,
            "nodes",
            response=NodeConfigOut,
            errors=(503,),
        ),
        Route(
            "PUT",
            "/api/nodes/{node_id}/config",
            put_config,
            "Set a node's configuration: validated, kept, published retained on its config topic",
            Role.ADMIN,
            "nodes",
            body=ConfigIn,
            response=NodeConfigOut,
            errors=(422, 503),
            description="The node validates it again, applies it without losing its outbox, and reports "
            "`config_version` (or `config_error` when it refuses one and keeps running on the old) in its status.",
        ),
        Route(
            "GET",
            "/models/{name}/{version}/{file}",
            model_file,
            "A model file for nodes to fetch (open: its integrity comes from the sha256 in the node's config)",
            None,
            "models",
            content_type="application/octet-stream",
            errors=(404,),
        ),
    ]
