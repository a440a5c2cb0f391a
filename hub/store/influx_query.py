"""Reading InfluxDB back through the v1 /query API (InfluxQL): the demo, checks, benchmarks and tests use it."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any


class InfluxReader:
    """Queries over one kept-alive HTTP connection (cheap enough to poll in a benchmark loop)."""

    def __init__(self, url: str, db: str, timeout: float = 30.0, token: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.db, self.timeout = parts.hostname or "127.0.0.1", parts.port or 8086, db, timeout
        self.https = parts.scheme == "https"
        # InfluxDB 2 and 3 serve /query too, with "Authorization: Token ..."; 1.x ignores it when auth is off.
        self._headers = {"Authorization": f"Token {token}"} if token else {}
        self._conn: http.client.HTTPConnection | None = None

    def query(self, q: str) -> list[dict[str, Any]]:
        """Rows of the first statement as dicts (the measurement and tags included, time in epoch ms)."""
        path = "/query?" + urllib.parse.urlencode({"db": self.db, "q": q, "epoch": "ms"})
        for attempt in (0, 1):
            if self._conn is None:
                kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self._conn = kind(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("GET", path, headers=self._headers)
                data = json.loads(self._conn.getresponse().read())
                break
            except (OSError, http.client.HTTPException):
                self.close()  # a kept-alive connection the server closed: one fresh try
                if attempt:
                    raise
        if "results" not in data:  # a refused query (parse error, auth): the server says why at the top level
            raise RuntimeError(f"InfluxDB refused {q!r}: {data.get('error', data)}")
        result = data["results"][0]
        if "error" in result:
            if "database not found" in result["error"]:
                return []
            raise RuntimeError(result["error"])
        rows: list[dict[str, Any]] = []
        for series in result.get("series", []):
            cols = series["columns"]
            base = {"measurement": series.get("name"), **series.get("tags", {})}
            rows.extend({**base, **dict(zip(cols, values, strict=True))} for values in series["values"])
        return rows

    def count(self, measurement: str, where: str = "") -> int:
        """Number of ``value`` fields in one measurement, or in all matching a /regex/."""
        source = measurement if measurement.startswith("/") else f'"{measurement}"'
        return sum(int(r["count"]) for r in self.query(f'SELECT count("value") FROM {source} {where}'))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def query(url: str, db: str, q: str) -> list[dict[str, Any]]:
    reader = InfluxReader(url, db)
    try:
        return reader.query(q)
    finally:
        reader.close()


def count(url: str, db: str, measurement: str, where: str = "") -> int:
    reader = InfluxReader(url, db)
    try:
        return reader.count(measurement, where)
    finally:
        reader.close()
