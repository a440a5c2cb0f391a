"""Cameras: latest snapshot with its boxes, event history, and the live view relayed by the hub."""

from __future__ import annotations

from hub.api.context import ApiContext
from hub.api.routes import Route


def routes(ctx: ApiContext) -> list[Route]:
    return []
