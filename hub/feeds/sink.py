"""Where the feeds' points go: one InfluxDB write per import (all or nothing), and InfluxQL reads for history."""

from __future__ import annotations

from typing import Any

from hub.config import HubInflux
from hub.store.influx import InfluxWriter, Outcome
from hub.store.influx_query import InfluxReader


class FeedWriteError(Exception):
    """InfluxDB did not take the import's points (down, or it refused them)."""


class InfluxSink:
    def __init__(self, settings: HubInflux, retry_budget_s: float = 5.0) -> None:
        self.settings = settings
        self.retry_budget_s = retry_budget_s
        self._writer = InfluxWriter(settings)
        token = settings.token.read() if settings.token else None
        self._reader = InfluxReader(settings.url, settings.database, timeout=settings.timeout_s, token=token)

    def write(self, lines: list[str]) -> None:
        """Every line in one request: InfluxDB takes a request whole, so a failed import leaves nothing behind."""
        if not lines:
            return
        result = self._writer.write(("\n".join(lines) + "\n").encode(), self.retry_budget_s)
        if result.outcome is not Outcome.WRITTEN:
            status = f"HTTP {result.status} " if result.status else ""
            raise FeedWriteError(f"InfluxDB {result.outcome.value}: {status}{result.detail}".strip())

    def query(self, q: str) -> list[dict[str, Any]]:
        return self._reader.query(q)

    def close(self) -> None:
        self._writer.close()
        self._reader.close()


def quote(value: str) -> str:
    """An InfluxQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
