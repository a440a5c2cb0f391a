"""The map's points: stations, cameras and nodes with their positions and current levels."""

from __future__ import annotations

from hub.api.context import ApiContext
from hub.api.routes import Route


def routes(ctx: ApiContext) -> list[Route]:
    return []
