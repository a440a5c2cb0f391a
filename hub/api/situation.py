"""The situation views' data: rivers against their BĐ levels, reservoirs, forest-fire danger, rain."""

from __future__ import annotations

from hub.api.context import ApiContext
from hub.api.routes import Route


def routes(ctx: ApiContext) -> list[Route]:
    return []
