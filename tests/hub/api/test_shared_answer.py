"""The shared answer behind the console's costly views: computed once for every caller, never awaited when stale."""

from __future__ import annotations

import asyncio

import pytest

from hub.api.shared_answer import SharedAnswer


class Source:
    """A computation the test lets finish, counting its runs; the clock is the test's too."""

    def __init__(self) -> None:
        self.runs = 0
        self.gate = asyncio.Event()
        self.now = 0.0
        self.fail = False

    async def compute(self) -> int:
        self.runs += 1
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("InfluxDB down")
        return self.runs


def test_fresh_stale_and_expired_answers() -> None:
    async def scenario() -> None:
        src = Source()
        shared = SharedAnswer(src.compute, fresh_s=5, stale_s=60, name="t", clock=lambda: src.now)
        # Three pages ask at once before there is any answer: one computation, shared.
        waiting = [asyncio.create_task(shared.get()) for _ in range(3)]
        while src.runs == 0:  # until the computation has started (a few turns of the loop)
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert src.runs == 1 and not any(t.done() for t in waiting)
        src.gate.set()
        assert await asyncio.gather(*waiting) == [1, 1, 1]
        # Fresh: served as it is.
        src.now = 4.9
        assert await shared.get() == 1 and src.runs == 1
        # Stale: served at once (the old answer), one recomputation behind it.
        src.now = 30
        assert await shared.get() == 1
        running = shared._running
        assert await shared.get() == 1 and shared._running is running  # the one running is not started twice
        assert running is not None and await running == 2 and src.runs == 2
        assert await shared.get() == 2
        # Expired: the caller waits for the new answer rather than see one older than stale_s.
        src.now = 30 + 61
        assert await shared.get() == 3

    asyncio.run(scenario())


def test_a_failure_reaches_the_waiting_caller_and_the_next_call_tries_again() -> None:
    async def scenario() -> None:
        src = Source()
        src.gate.set()
        src.fail = True
        shared = SharedAnswer(src.compute, fresh_s=5, stale_s=60, name="t", clock=lambda: src.now)
        with pytest.raises(RuntimeError, match="InfluxDB down"):
            await shared.get()
        src.fail = False
        assert await shared.get() == 2

    asyncio.run(scenario())


def test_bad_windows_are_refused() -> None:
    async def compute() -> int:
        return 1

    with pytest.raises(ValueError):
        SharedAnswer(compute, fresh_s=10, stale_s=5, name="t")
