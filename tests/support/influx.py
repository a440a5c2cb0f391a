"""Reading back what the hub stored (the same helpers the demo uses)."""

from hub.store.influx_query import count, query

__all__ = ["count", "query"]
