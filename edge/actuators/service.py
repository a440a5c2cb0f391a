"""The node's side of actuator commands: verify, run once, switch off on time, and say what happened.

``handle(payload)`` takes a command as it arrived on ``<prefix>/v1/<node_id>/actuate`` and returns the ack to
publish. It refuses, in this order and without touching any output: what is not a command, a command for another
node, one not signed with this node's key, one issued too far ahead of the node's clock or past its expiry, an
unknown actuator, and an id already seen. Timers that end a siren or a test run on the node's own loop, so a siren
stops on time whatever happens to the MQTT link; their ends are also in the store, so a restart switches off what a
crash left on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edge.actuators.base import Actuator, ActuatorError, Unsupported, build_actuator
from edge.actuators.store import CommandStore
from wire.actuate import (
    CLOCK_SKEW,
    Action,
    ActuateAck,
    ActuateCommand,
    Outcome,
    RefusalCode,
    read_key,
    signature_ok,
)
from wire.messages import describe_error, utcnow
from wire.nodeconfig.node import ActuationSettings

log = logging.getLogger(__name__)

PUBLIC, TEST = "public", "test"
OFF_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # switching a siren off is retried until it works


class _Refused(Exception):
    def __init__(self, code: RefusalCode, reason: str, first: Outcome | None = None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.first = code, reason, first


class ActuationService:
    """Lifecycle: constructed without I/O; ``await start()`` (reads the key, opens the store, switches off what a
    previous run left on past its time); ``await handle(payload)`` per command; ``await close()``, which switches
    every output off."""

    def __init__(
        self,
        node_id: str,
        settings: ActuationSettings,
        state_path: Path,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.node_id = node_id
        self.settings = settings
        self.state_path = state_path
        self.clock = clock
        self.actuators: dict[str, Actuator] = {a.id: build_actuator(a) for a in settings.actuators}
        self.key: bytes | None = None
        self.key_error: str | None = None
        self.store: CommandStore | None = None
        self._timers: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._lock = asyncio.Lock()  # one command at a time: two commands racing for one relay have no good order
        self.counters = {"executed": 0, "refused": 0, "failed": 0}

    async def start(self) -> None:
        try:
            self.key = read_key(await asyncio.to_thread(self.settings.key_file.read_bytes))
        except (OSError, ValueError) as exc:
            # The node still runs (it measures); every command is refused with the reason until the key is fixed.
            self.key_error = f"actuation key {self.settings.key_file}: {getattr(exc, 'strerror', None) or exc}"
            log.error("%s: every actuator command will be refused", self.key_error)
        self.store = await asyncio.to_thread(CommandStore, self.state_path)
        now = self.clock()
        for actuator, output, until in self.store.outputs():
            if actuator in self.actuators:
                self._schedule_off(actuator, output, max(0.0, (until - now).total_seconds()))
            else:
                self.store.output_off(actuator, output)

    # -- one command ------------------------------------------------------------------------------------------
    async def handle(self, payload: bytes) -> ActuateAck:
        received = self.clock()
        head = _head(payload)
        try:
            cmd = self._verify(payload, received)
        except _Refused as why:
            self.counters["refused"] += 1
            log.warning("actuator command %r refused: %s", head.get("command_id", ""), why.reason)
            return self._ack(head, received, Outcome.REFUSED, why.code, why.reason, first=why.first)
        async with self._lock:
            return await self._run(cmd, received)

    def _verify(self, payload: bytes, now: datetime) -> ActuateCommand:
        try:
            cmd = ActuateCommand.model_validate_json(payload, strict=True)
        except ValidationError as exc:
            raise _Refused(RefusalCode.MALFORMED, f"not a valid command: {describe_error(exc)}") from None
        if cmd.node_id != self.node_id:
            raise _Refused(RefusalCode.WRONG_NODE, f"addressed to {cmd.node_id}, this is {self.node_id}")
        if self.key is None:
            raise _Refused(RefusalCode.NO_KEY, self.key_error or "no actuation key")
        if not signature_ok(self.key, cmd):
            raise _Refused(RefusalCode.BAD_SIGNATURE, "signature does not match this node's key")
        if cmd.issued > now + CLOCK_SKEW:
            raise _Refused(RefusalCode.NOT_YET_VALID, f"issued {cmd.issued.isoformat()}, ahead of the node clock")
        if now > cmd.expires:
            late = (now - cmd.expires).total_seconds()
            raise _Refused(RefusalCode.EXPIRED, f"expired {late:.1f} s before it arrived; not run late")
        if cmd.actuator not in self.actuators:
            raise _Refused(RefusalCode.UNKNOWN_ACTUATOR, f"no actuator {cmd.actuator!r} on {self.node_id}")
        assert self.store is not None, "start() first"
        self.store.forget_expired(now - CLOCK_SKEW)
        first = self.store.claim(cmd.command_id, cmd.actuator, cmd.action.value, cmd.expires)
        if first is not None:
            raise _Refused(RefusalCode.REPLAYED, f"command {cmd.command_id} was seen before ({first})", first)
        return cmd

    async def _run(self, cmd: ActuateCommand, received: datetime) -> ActuateAck:
        assert self.store is not None
        head = {"command_id": cmd.command_id, "actuator": cmd.actuator}
        until: datetime | None = None
        try:
            until = await self._execute(cmd)
        except Unsupported as exc:
            self.store.finish(cmd.command_id, Outcome.REFUSED)
            self.counters["refused"] += 1
            return self._ack(head, received, Outcome.REFUSED, RefusalCode.UNSUPPORTED, str(exc))
        except ActuatorError as exc:
            self.store.finish(cmd.command_id, Outcome.FAILED)
            self.counters["failed"] += 1
            log.error("actuator command %s failed: %s", cmd.command_id, exc)
            return self._ack(head, received, Outcome.FAILED, None, str(exc), done=self.clock())
        self.store.finish(cmd.command_id, Outcome.EXECUTED)
        self.counters["executed"] += 1
        log.info("actuator command %s executed: %s %s", cmd.command_id, cmd.action.value, cmd.actuator)
        return self._ack(head, received, Outcome.EXECUTED, None, "", done=self.clock(), until=until)

    async def _execute(self, cmd: ActuateCommand) -> datetime | None:
        act = self.actuators[cmd.actuator]
        if cmd.action is Action.SIREN_ON:
            assert cmd.duration_s is not None
            return await self._switch_on(act, PUBLIC, cmd.duration_s)
        if cmd.action is Action.TEST:
            return await self._switch_on(act, TEST, cmd.duration_s or act.config.test_s)
        if cmd.action is Action.SIREN_OFF:
            self._cancel(act.id, PUBLIC)
            await act.siren(False)
            self._off_recorded(act.id, PUBLIC)
            return None
        assert cmd.file is not None
        await act.play(act.audio_path(cmd.file))
        return None

    async def _switch_on(self, act: Actuator, output: str, seconds: float) -> datetime:
        assert self.store is not None
        until = self.clock() + timedelta(seconds=seconds)
        # The end is stored before the output goes on, so no crash can leave it on with nobody to end it.
        self.store.output_on(act.id, output, until)
        self._cancel(act.id, output)
        try:
            await (act.siren if output == PUBLIC else act.test)(True, seconds)
        except ActuatorError:
            self._off_recorded(act.id, output)
            raise
        self._schedule_off(act.id, output, seconds)
        return until

    # -- timers -----------------------------------------------------------------------------------------------
    def timer(self, actuator: str, output: str = PUBLIC) -> asyncio.Task[None] | None:
        """The task that will switch this output off, while one is pending."""
        return self._timers.get((actuator, output))

    def _schedule_off(self, actuator: str, output: str, after_s: float) -> None:
        self._cancel(actuator, output)
        task = asyncio.create_task(self._off_later(actuator, output, after_s), name=f"off-{actuator}-{output}")
        self._timers[(actuator, output)] = task

    def _cancel(self, actuator: str, output: str) -> None:
        task = self._timers.pop((actuator, output), None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _off_later(self, actuator: str, output: str, after_s: float) -> None:
        await asyncio.sleep(after_s)
        await self._switch_off(actuator, output)
        self._timers.pop((actuator, output), None)

    async def _switch_off(self, actuator: str, output: str) -> None:
        act = self.actuators[actuator]
        for attempt in range(1_000_000):
            try:
                await (act.siren if output == PUBLIC else act.test)(False)
            except ActuatorError as exc:
                delay = OFF_RETRY_S[min(attempt, len(OFF_RETRY_S) - 1)]
                log.error("%s %s: cannot switch off (%s); again in %g s", actuator, output, exc, delay)
                await asyncio.sleep(delay)
                continue
            break
        self._off_recorded(actuator, output)

    def _off_recorded(self, actuator: str, output: str) -> None:
        if self.store is not None:
            self.store.output_off(actuator, output)

    # -- acks and shutdown --------------------------------------------------------------------------------------
    def _ack(
        self,
        head: dict[str, Any],
        received: datetime,
        outcome: Outcome,
        code: RefusalCode | None,
        reason: str,
        *,
        first: Outcome | None = None,
        done: datetime | None = None,
        until: datetime | None = None,
    ) -> ActuateAck:
        return ActuateAck(
            node_id=self.node_id,
            ts=self.clock(),
            command_id=str(head.get("command_id", ""))[:128],
            actuator=str(head.get("actuator", ""))[:64],
            outcome=outcome,
            code=code,
            reason=reason[:2000],
            first_outcome=first,
            received=received,
            done=done,
            until=until,
        )

    async def close(self) -> None:
        """Stop the timers and switch off every output still on: nobody would be left to end it."""
        for task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self.store is not None:
            for actuator, output, _ in self.store.outputs():
                if actuator in self.actuators:
                    with contextlib.suppress(ActuatorError):
                        act = self.actuators[actuator]
                        await (act.siren if output == PUBLIC else act.test)(False)
                        self.store.output_off(actuator, output)
        for act in self.actuators.values():
            with contextlib.suppress(Exception):
                await act.close()
        if self.store is not None:
            self.store.close()
            self.store = None


def _head(payload: bytes) -> dict[str, Any]:
    """The ids of a payload that may not be a valid command, to echo in the ack of its refusal."""
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(doc, dict):
        return {}
    return {k: doc[k] for k in ("command_id", "actuator") if isinstance(doc.get(k), str)}
