"""An IP loudspeaker or a sound card, driven by a player command line (``aplay {file}``, ``mpv --no-video {file}``,
a vendor's SIP/RTP paging tool): the edge starts the process; what it plays on is the command's business."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from pathlib import Path

from edge.actuators.base import Actuator, ActuatorError, Unsupported, register_actuator
from wire.nodeconfig.actuators import AudioPlayerConfig

log = logging.getLogger(__name__)

# How long a command waits for the player: one that fails fails at once (missing file, no device), so an exit within
# this is a result; one still running then is playing, and the ack says executed without waiting for the end.
SETTLE_S = 1.0


class _Playing:
    """One player process, and the task that ends it."""

    def __init__(self, proc: asyncio.subprocess.Process, stopper: asyncio.Task[None]) -> None:
        self.proc = proc
        self.stopper = stopper


@register_actuator("audio_player", AudioPlayerConfig)
class AudioPlayerActuator(Actuator):
    config: AudioPlayerConfig

    def __init__(self, config: AudioPlayerConfig) -> None:
        super().__init__(config)
        self._outputs: dict[str, asyncio.Task[None] | _Playing] = {}  # "public" / "test" -> what plays there
        # Weak: a player that ran to its end without anybody asking for its last words leaves nothing behind.
        self._tails: weakref.WeakKeyDictionary[asyncio.subprocess.Process, asyncio.Task[bytes]] = (
            weakref.WeakKeyDictionary()
        )

    def audio_path(self, name: str) -> Path:
        """The file ``name`` in the audio folder; ActuatorError for a name that leaves it or names nothing."""
        root = self.config.directory.resolve()
        path = (root / name).resolve()
        if path.parent != root:
            raise ActuatorError(f"audio_player {self.id}: {name!r} is not a file in {root}")
        if not path.is_file():
            raise ActuatorError(f"audio_player {self.id}: no audio file {name!r} in {root}")
        return path

    async def _start(self, command: list[str], path: Path) -> asyncio.subprocess.Process:
        argv = [arg.replace("{file}", str(path)) for arg in command]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise ActuatorError(f"audio_player {self.id}: cannot run {argv[0]}: {exc.strerror}") from None
        # Read for the player's whole life: a player that writes progress to stderr (mpv does) would stall on a
        # full pipe; only the last words are kept, for the ack of a failure.
        assert proc.stderr is not None
        self._tails[proc] = asyncio.create_task(_last_words(proc.stderr))
        return proc

    async def _settle(self, proc: asyncio.subprocess.Process) -> bool:
        """True while the player still runs after SETTLE_S; ActuatorError when it ended with an error."""
        try:
            async with asyncio.timeout(SETTLE_S):
                await proc.wait()
        except TimeoutError:
            return True
        err = await self._tails.pop(proc)
        if proc.returncode:
            tail = err.decode(errors="replace").strip()[-300:]
            raise ActuatorError(f"audio_player {self.id}: player exited with {proc.returncode}: {tail}")
        return False

    async def _stop(self, output: str) -> None:
        current = self._outputs.pop(output, None)
        if isinstance(current, asyncio.Task):
            current.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await current
        elif current is not None:
            current.stopper.cancel()
            await _end(current.proc)

    async def _play_once(self, output: str, command: list[str], path: Path, limit_s: float) -> bool:
        await self._stop(output)
        proc = await self._start(command, path)
        if not await self._settle(proc):
            return False

        async def stop_later() -> None:
            await asyncio.sleep(limit_s)
            self._outputs.pop(output, None)
            await _end(proc)

        self._outputs[output] = _Playing(proc, asyncio.create_task(stop_later()))
        return True

    async def play(self, path: Path) -> bool:
        return await self._play_once("public", self.config.command, path, self.config.max_play_s)

    async def test(self, on: bool, seconds: float | None = None) -> None:
        c = self.config
        if c.test_file is None:
            raise Unsupported(f"audio_player {self.id} has no test_file configured")
        if not on:
            await self._stop("test")
            return
        await self._play_once("test", c.test_command or c.command, self.audio_path(c.test_file), seconds or c.test_s)

    async def siren(self, on: bool, seconds: float | None = None) -> None:
        c = self.config
        await self._stop("public")
        if not on:
            return
        if c.siren_file is None:
            raise Unsupported(f"audio_player {self.id} has no siren_file configured")
        path = self.audio_path(c.siren_file)
        first = await self._start(c.command, path)
        still = await self._settle(first)  # a player that cannot start fails the command, not a later loop
        self._outputs["public"] = asyncio.create_task(self._loop(path, first if still else None))

    async def _loop(self, path: Path, proc: asyncio.subprocess.Process | None) -> None:
        """Play the siren sound again and again until cancelled (the caller's timer ends the siren)."""
        try:
            while True:
                if proc is None:
                    proc = await self._start(self.config.command, path)
                await proc.wait()
                if proc.returncode:
                    log.warning("audio_player %s: siren sound exited with %s", self.id, proc.returncode)
                    return
                proc = None
        finally:
            if proc is not None:
                await _end(proc)

    async def close(self) -> None:
        for output in list(self._outputs):
            await self._stop(output)


async def _last_words(stream: asyncio.StreamReader, keep: int = 2048) -> bytes:
    tail = b""
    while chunk := await stream.read(4096):
        tail = (tail + chunk)[-keep:]
    return tail


async def _end(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(2):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
