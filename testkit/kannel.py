"""A real Kannel SMS gateway for tests: bearerbox, smsbox and Kannel's fake SMSC, as child processes in a folder.

Debian's ``kannel`` package ships ``bearerbox`` and ``smsbox`` (/usr/sbin); ``kannel-extras`` ships ``fakesmsc``
(/usr/lib/kannel/test/fakesmsc), a client of bearerbox's ``smsc = fake`` connection that logs every message it is
given as ``Got message N: <sender receiver type data>`` (type ``text``, ``data`` or ``ucs-2`` URL-encoded, or
``udh <udh> [data] <data>`` for one part of a concatenated message). The fake SMSC also answers every message that
asked for one with delivery reports (type 8 when it takes the message, 1 as if the phone had it), which smsbox
passes to the message's dlr-url: the whole round trip of a real deployment, with the carrier replaced.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_to_bytes

from testkit.localsvc import ServiceError, _port_open, free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
_GOT = re.compile(r"Got message \d+: <(.*)>\s*$")


@dataclass(frozen=True)
class FakeSms:
    """One SMS (one part of a long one) as the fake SMSC received it."""

    sender: str
    receiver: str
    kind: str  # text, data, ucs-2, udh
    data: bytes
    udh: bytes = b""

    def text(self, encoding: Literal["gsm7", "ucs2"]) -> str:
        """The part's text: UTF-16BE for UCS-2; Kannel keeps 7-bit text as UTF-8 until the SMSC driver."""
        if self.kind == "ucs-2" or (self.kind == "udh" and encoding == "ucs2"):
            return self.data.decode("utf-16-be")
        return self.data.decode("utf-8")

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """(reference, total, sequence) from the concatenation header (IEI 0x00 or 0x08), if this is a part."""
        u = self.udh
        i = 1  # the first byte is the header's length
        while i + 1 < len(u):
            iei, size = u[i], u[i + 1]
            body = u[i + 2 : i + 2 + size]
            if iei == 0x00 and size == 3:
                return body[0], body[1], body[2]
            if iei == 0x08 and size == 4:
                return (body[0] << 8) | body[1], body[2], body[3]
            i += 2 + size
        return None


def _unquote(field: str) -> bytes:
    # Kannel's URL encoding writes a space as "+" (and a plus as %2B).
    return unquote_to_bytes(field.replace("+", " "))


def parse_line(line: str) -> FakeSms | None:
    """A fakesmsc log line as a FakeSms; None for any other line."""
    m = _GOT.search(line)
    if m is None:
        return None
    sender, receiver, kind, rest = (m.group(1).split(" ", 3) + [""] * 4)[:4]
    if kind == "text":
        return FakeSms(sender, receiver, kind, rest.encode("utf-8"))
    if kind in ("data", "ucs-2"):
        return FakeSms(sender, receiver, kind, _unquote(rest))
    if kind == "udh":
        fields = rest.split(" ")  # URL-encoded, so no spaces inside a field; a coding word may stand between
        return FakeSms(sender, receiver, kind, _unquote(fields[-1]), _unquote(fields[0]))
    return FakeSms(sender, receiver, kind, rest.encode("utf-8"))


def reassemble(parts: list[FakeSms], encoding: Literal["gsm7", "ucs2"]) -> str:
    """The text of one message from its parts, in sequence order (one unsplit SMS is its own text)."""
    if len(parts) == 1 and parts[0].concat is None:
        return parts[0].text(encoding)
    keyed = []
    for p in parts:
        c = p.concat
        if c is None:
            raise ValueError("a part without a concatenation header among several")
        keyed.append((c, p))
    refs = {c[0] for c, _ in keyed}
    totals = {c[1] for c, _ in keyed}
    if len(refs) != 1 or totals != {len(parts)}:
        raise ValueError(f"parts of different messages or missing ones: refs {refs}, totals {totals}")
    return "".join(p.text(encoding) for _, p in sorted(keyed, key=lambda cp: cp[0][2]))


class Kannel:
    """bearerbox + smsbox + fakesmsc on free loopback ports, with one sendsms user, in ``root``."""

    def __init__(
        self, root: Path, *, username: str = "iocgw", password: str = "kannel-test-pw", max_messages: int = 10
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.max_messages = max_messages
        self.admin_port = free_port()
        self.box_port = free_port()
        self.smsc_port = free_port()
        self.sendsms_port = free_port()
        self.admin_password = "admin-" + os.urandom(6).hex()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def write_config(self) -> Path:
        r = self.root
        path = r / "kannel.conf"
        path.write_text(
            f"""group = core
admin-port = {self.admin_port}
admin-interface = 127.0.0.1
admin-password = {self.admin_password}
smsbox-port = {self.box_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{r}/bearerbox.log"
log-level = 0
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{r}/smsbox.log"
log-level = 0
http-request-retry = 30
http-queue-delay = 1

group = sendsms-user
username = {self.username}
password = {self.password}
concatenation = true
max-messages = {self.max_messages}

group = sms-service
keyword = default
text = "no service"
"""
        )
        return path

    def _spawn(self, name: str, argv: list[str]) -> None:
        if not os.path.exists(argv[0]):
            package = "kannel-extras" if name == "fakesmsc" else "kannel"
            raise ServiceError(f"{argv[0]} is not installed (apt-get install {package})")
        with open(self.root / f"{name}.out", "ab") as out:
            self._procs[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _wait(self, what: str, condition: Callable[[], bool], deadline: float) -> None:
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise ServiceError(f"{name} exited with {proc.returncode}; see {self.root}/{name}.out")
            if condition():
                return
            time.sleep(0.05)
        raise ServiceError(f"kannel: {what} not ready in time; see the logs in {self.root}")

    def _status(self) -> str:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={self.admin_password}"
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError):
            return ""

    def start(self, timeout: float = 30.0) -> None:
        """Start the three processes; returns once sendsms answers and the fake SMSC is connected."""
        config = str(self.write_config())
        deadline = time.monotonic() + timeout
        try:
            self._spawn("bearerbox", [BEARERBOX, "-v", "1", config])
            self._wait("bearerbox", lambda: _port_open(self.box_port) and _port_open(self.smsc_port), deadline)
            self._spawn("smsbox", [SMSBOX, "-v", "1", config])
            self._spawn("fakesmsc", [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-m", "0", "1 2 text x"])
            self._wait("smsbox", lambda: _port_open(self.sendsms_port), deadline)
            self._wait("the fake SMSC link", lambda: "(online" in self._status(), deadline)
        except BaseException:
            self.stop()
            raise

    def received(self) -> list[FakeSms]:
        """Every SMS the fake SMSC has been given so far, in order."""
        path = self.root / "fakesmsc.out"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [sms for sms in map(parse_line, lines) if sms is not None]

    def wait_received(self, count: int, timeout: float = 10.0) -> list[FakeSms]:
        """The first ``count`` SMS, once that many have arrived; ServiceError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if len(got) >= count:
                return got[:count]
            if time.monotonic() > deadline:
                raise ServiceError(f"fake SMSC received {len(got)} of {count} SMS in {timeout} s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM in reverse order of start (Kannel's clean shutdown), SIGKILL for any that lingers."""
        for name in ("fakesmsc", "smsbox", "bearerbox"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
