"""Writing line-protocol batches to InfluxDB over HTTP (v1 /write, v2 /api/v2/write, v3 /api/v3/write_lp)."""

from __future__ import annotations

import gzip
import http.client
import json
import logging
import random
import time
import urllib.parse
from dataclasses import dataclass
from enum import StrEnum

from hub.config import HubInflux, InfluxApi

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    WRITTEN = "written"
    REJECTED = "rejected"  # 4xx on the data itself: retrying cannot help, dead-letter it
    UNAVAILABLE = "unavailable"  # down, overloaded or misconfigured: spool and try again later


@dataclass(frozen=True)
class WriteResult:
    outcome: Outcome
    status: int | None = None
    detail: str = ""
    retry_after_s: float | None = None


class InfluxWriter:
    """Blocking writer for one thread; keeps one HTTP connection alive."""

    def __init__(self, settings: HubInflux) -> None:
        self.settings = settings
        parsed = urllib.parse.urlsplit(settings.url)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or "127.0.0.1"
        self._port = parsed.port or (443 if self._https else 80)
        self._base = parsed.path.rstrip("/")
        self._token = settings.token.read() if settings.token else None
        self._conn: http.client.HTTPConnection | None = None
        self._database_ready = False

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.settings.timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self._token:
            headers["Authorization"] = f"Token {self._token}"
        return headers

    def _write_path(self) -> str:
        s = self.settings
        if s.api is InfluxApi.V2:
            query = {"org": s.org, "bucket": s.bucket, "precision": "ms"}
            return f"{self._base}/api/v2/write?" + urllib.parse.urlencode(query)
        if s.api is InfluxApi.V3:
            return f"{self._base}/api/v3/write_lp?" + urllib.parse.urlencode(
                {"db": s.database, "precision": "millisecond"}
            )
        query = {"db": s.database, "precision": "ms"}
        if s.retention_policy:
            query["rp"] = s.retention_policy
        return f"{self._base}/write?" + urllib.parse.urlencode(query)

    def _request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                return resp.status, text, {k.lower(): v for k, v in resp.getheaders()}
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server closed; one fresh try before calling it down.
                self.close()
                if attempt:
                    raise
            except Exception:
                self.close()
                raise
        raise AssertionError("unreachable")

    def ensure_database(self) -> None:
        """v1 only: create the database if missing (idempotent in InfluxDB)."""
        if self._database_ready or self.settings.api is not InfluxApi.V1 or not self.settings.create_database:
            return
        q = urllib.parse.urlencode({"q": f'CREATE DATABASE "{self.settings.database}"'})
        status, text, _ = self._request(
            "POST",
            f"{self._base}/query",
            q.encode(),
            {**self._headers(), "Content-Type": "application/x-www-form-urlencoded"},
        )
        if status != 200:
            raise OSError(f"CREATE DATABASE failed: HTTP {status} {text[:200]}")
        self._database_ready = True

    def write_once(self, body: bytes) -> WriteResult:
        """One attempt; never raises for network trouble (that is UNAVAILABLE)."""
        headers = self._headers()
        payload = body
        if self.settings.gzip:
            payload = gzip.compress(body, compresslevel=1)
            headers["Content-Encoding"] = "gzip"
        try:
            self.ensure_database()
            status, text, resp_headers = self._request("POST", self._write_path(), payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            return WriteResult(Outcome.UNAVAILABLE, detail=f"{type(exc).__name__}: {exc}")
        if status in (200, 204):
            return WriteResult(Outcome.WRITTEN, status)
        detail = _error_text(text)
        if status in (429, 503):
            return WriteResult(Outcome.UNAVAILABLE, status, detail, _retry_after(resp_headers.get("retry-after")))
        if status == 404 and "database not found" in detail:
            self._database_ready = False
            return WriteResult(Outcome.UNAVAILABLE, status, detail)
        if status in (400, 413, 422):
            return WriteResult(Outcome.REJECTED, status, detail)
        # 401/403 (a token problem) and other 5xx: the data is fine, keep it until the store accepts it.
        return WriteResult(Outcome.UNAVAILABLE, status, detail)

    def write(self, body: bytes, budget_s: float) -> WriteResult:
        """Retry with exponential backoff and jitter (or Retry-After) for up to ``budget_s``."""
        deadline = time.monotonic() + budget_s
        delay = 0.1
        while True:
            result = self.write_once(body)
            if result.outcome is not Outcome.UNAVAILABLE:
                return result
            wait = result.retry_after_s if result.retry_after_s is not None else delay * random.uniform(0.8, 1.2)
            if time.monotonic() + wait > deadline:
                return result
            time.sleep(wait)
            delay = min(delay * 2, 5.0)


@dataclass(frozen=True)
class Isolated:
    """A batch written line by line where it had to be: which lines InfluxDB refused, and why."""

    result: WriteResult  # WRITTEN: every line is either stored or in ``rejected``; UNAVAILABLE: keep the whole batch
    rejected: list[tuple[str, str]]  # (line, InfluxDB's reason)
    requests: int = 1


def isolate_rejected(writer: InfluxWriter, lines: list[str], first: WriteResult) -> Isolated:
    """After InfluxDB refused a batch (``first``, REJECTED), find the lines it refuses by halving the batch.

    One bad line must not take its batch (other nodes' readings) with it. Halves are written again: InfluxDB 1.x
    may already have stored the good points of a partial write, and rewriting a point with the same series,
    time and value changes nothing. A single line refused on its own is the culprit. If the store goes away on
    the way, the caller keeps the whole batch to try again (the rewrite is harmless then too).
    """
    rejected: list[tuple[str, str]] = []
    requests = 0
    pending = [(lines, first)]
    while pending:
        part, result = pending.pop()
        if result.outcome is Outcome.WRITTEN:
            continue
        if result.outcome is Outcome.UNAVAILABLE:
            return Isolated(result, rejected, requests)
        if len(part) == 1:
            rejected.append((part[0], f"HTTP {result.status}: {result.detail}"))
            continue
        mid = len(part) // 2
        for half in (part[mid:], part[:mid]):
            requests += 1
            pending.append((half, writer.write_once(("\n".join(half) + "\n").encode())))
    return Isolated(WriteResult(Outcome.WRITTEN, 204), rejected, requests)


def _error_text(text: str) -> str:
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            return str(data.get("error") or data.get("message") or text)[:500]
    except ValueError:
        pass
    return text[:500]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 300.0))
    except ValueError:
        return None
