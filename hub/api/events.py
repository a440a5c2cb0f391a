"""Server-sent events: the page hears of every alarm change as it is committed, instead of polling for it.

The alert engine tells ``AlarmFeed.publish`` the ids of the alarms a commit changed, from whichever thread committed
(the ingest writer, an acknowledgement's worker); in cluster mode, on every hub, the PostgreSQL listener's thread
(hub/alerts/pg_alarm_feed.py) does, after each commit of the leader, and with the active alarms' ids after it lost
PostgreSQL for a while (a message that tells the page to refresh). Each open stream has a small queue on the event loop;
a burst of changes while the browser is slow coalesces into one message naming them all, so a stuck client holds a few
ids, never an unbounded backlog. The message says what changed; the page then asks the API for the alarms as it always
did (one source for what an alarm looks like: GET /api/alerts)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.routes import Call, Route

HEARTBEAT_S = 15.0  # a comment line this often: proxies keep the stream open and a dead peer is found
RETRY_MS = 2000  # what the browser waits before reconnecting after the stream drops
MAX_IDS = 500  # more changed alarms than this in one message: the page just refetches everything anyway
STREAMS_MAX = 200  # open streams at once (each costs a task and a socket)


class EventsDescription(BaseModel):
    """Documents the stream; the route answers text/event-stream."""

    event: str = "alerts"
    data: str = '{"seq": <int>, "ids": [<alarm id>, ...]}'


@dataclass(eq=False)  # kept in a set by identity
class _Stream:
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    ids: set[str] = field(default_factory=set)
    closed: bool = False


class AlarmFeed:
    """Fans alarm changes out to the open event streams; thread-safe on the publishing side."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: set[_Stream] = set()
        self.seq = 0
        self.published = 0

    def publish(self, ids: list[str]) -> None:
        with self._lock:
            self.seq += 1
            self.published += 1
            streams = list(self._streams)
        for stream in streams:
            with contextlib.suppress(RuntimeError):  # the stream's loop has closed (server stopping)
                stream.loop.call_soon_threadsafe(self._deliver, stream, ids)

    @staticmethod
    def _deliver(stream: _Stream, ids: list[str]) -> None:
        stream.ids.update(ids)
        stream.wake.set()

    def open(self) -> _Stream | None:
        with self._lock:
            if len(self._streams) >= STREAMS_MAX:
                return None
            stream = _Stream(asyncio.get_running_loop())
            self._streams.add(stream)
            return stream

    def close(self, stream: _Stream) -> None:
        with self._lock:
            self._streams.discard(stream)

    def close_all(self) -> None:
        """Ends every stream (the server is stopping): their handlers return at once instead of holding it up."""
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.closed = True
            with contextlib.suppress(RuntimeError):
                stream.loop.call_soon_threadsafe(stream.wake.set)

    @property
    def open_streams(self) -> int:
        with self._lock:
            return len(self._streams)


def routes(ctx: ApiContext, feed: AlarmFeed) -> list[Route]:
    async def stream(call: Call) -> web.StreamResponse:
        handle = feed.open()
        if handle is None:
            return web.json_response({"error": "too many open event streams"}, status=503)
        resp = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx in front of the hub must not hold the events back
            }
        )
        try:
            await resp.prepare(call.request)
            await resp.write(f"retry: {RETRY_MS}\n: iocgw alarm events\n\n".encode())
            while not handle.closed:
                try:
                    async with asyncio.timeout(HEARTBEAT_S):
                        await handle.wake.wait()
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                handle.wake.clear()
                if handle.closed:
                    break
                ids, handle.ids = sorted(handle.ids), set()
                data = json.dumps({"seq": feed.seq, "ids": ids[:MAX_IDS], "more": len(ids) > MAX_IDS})
                await resp.write(f"event: alerts\nid: {feed.seq}\ndata: {data}\n\n".encode())
        finally:
            feed.close(handle)
        return resp

    return [
        Route(
            "GET",
            "/api/events",
            stream,
            "Alarm changes as they happen (server-sent events: event 'alerts', data {seq, ids})",
            Role.VIEWER,
            "alerts",
            response=EventsDescription,
            content_type="text/event-stream",
            description="The operator page listens here (EventSource, with its session cookie) and refreshes the "
            "alarms when told; a heartbeat comment comes every 15 s.",
        ),
    ]
