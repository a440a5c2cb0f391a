"""Sign-in once: a token exchanged for an HttpOnly, SameSite, expiring session cookie."""

from __future__ import annotations

from hub.api.context import ApiContext
from hub.api.routes import Route


def routes(ctx: ApiContext) -> list[Route]:
    return []
