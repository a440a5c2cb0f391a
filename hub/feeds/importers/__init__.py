"""Feed importers, one module per feed kind, registered by name in ``FEED_KINDS``."""

from hub.feeds.importers import (  # noqa: F401 - registers the kinds
    feedback,
    forecast,
    indicators,
    public_service,
    rain_forecast,
)
from hub.feeds.importers.base import FEED_KINDS, FeedKind, ImportContext, Rejection

__all__ = ["FEED_KINDS", "FeedKind", "ImportContext", "Rejection"]
