"""Changes that go through the alert engine (acknowledgements, release plans): the engine of this hub, or in
cluster mode the leader's, whose commits are fenced (docs/scaling.md, "Cluster mode"). A hub that does not lead
answers 503 and the client asks another hub; so does one that loses the lead between the question and the commit
(nothing was written then)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from hub.alerts.engine import AlertEngine
from hub.api.context import ApiContext
from hub.api.routes import ApiError

T = TypeVar("T")


def leading_engine(ctx: ApiContext, action: str) -> AlertEngine:
    """The engine to ``action`` through: this hub's, or the leader's while this hub leads; else 404 / 503."""
    if ctx.engine is None and ctx.cluster_engine is not None:
        leading = ctx.cluster_engine()
        if leading is None:
            raise ApiError(503, f"this hub does not run the alert engine now (cluster mode): {action} on the leader")
        return leading
    if ctx.engine is None:
        raise ApiError(404, "the alert engine is not configured")
    return ctx.engine


def _lost_the_lead(exc: RuntimeError) -> bool:
    # Imported here: hub.alerts.leader loads psycopg, which only a hub in cluster mode has loaded (and needs).
    from hub.alerts.leader import NotLeader

    return isinstance(exc, NotLeader)


async def through_engine(ctx: ApiContext, action: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` off the event loop (the engine's lock may be held for a whole batch); a fenced commit refused
    because the lead moved meanwhile is a 503 naming ``action``."""
    try:
        return await asyncio.to_thread(fn, *args)
    except RuntimeError as exc:
        if ctx.cluster_engine is None or not _lost_the_lead(exc):
            raise
        raise ApiError(503, f"this hub no longer leads (cluster mode): {action} on the leader ({exc})") from None
