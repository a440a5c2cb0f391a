"""Edge agents run in a thread of their own; the hub runs as a real child process (testkit.hubproc)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from edge.agent import Agent
from testkit.hubproc import HubProcess
from tests.support.wait import wait_until
from wire.nodeconfig import NodeConfig


class AgentThread:
    """An edge Agent on its own event loop, driven from the test thread."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.agent: Agent | None = None
        self._stop: asyncio.Event | None = None
        self._done: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def body() -> None:
            self.agent = await asyncio.to_thread(Agent.open, self.config)
            self._stop = asyncio.Event()
            await self.agent.run(self._stop)

        try:
            self.loop.run_until_complete(body())
            self._done.set_result(None)
        except BaseException as exc:
            self._done.set_exception(exc)

    def start(self) -> AgentThread:
        self._thread.start()
        wait_until(lambda: self.agent is not None and self._stop is not None, timeout=10, what="agent start")
        return self

    def call(self, fn: Callable[[Agent], Any]) -> Any:
        """Run ``fn(agent)`` on the agent's loop (the outbox is single-threaded) and return its result."""
        assert self.agent is not None
        agent = self.agent

        async def run() -> Any:
            return fn(agent)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def stop(self) -> None:
        if self._stop is not None and not self._done.done():
            self.loop.call_soon_threadsafe(self._stop.set)
        self._done.result(30)


__all__ = ["AgentThread", "HubProcess"]
