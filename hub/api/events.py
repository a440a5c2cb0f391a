"""Server-sent events: the page hears of every alarm change as it is committed."""

from __future__ import annotations

from hub.api.context import ApiContext
from hub.api.routes import Route


def routes(ctx: ApiContext) -> list[Route]:
    return []
