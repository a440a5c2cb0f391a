"""systemd's notify protocol without libsystemd: READY=1 when the service is up, WATCHDOG=1 while it is alive.

With ``Type=notify`` and ``WatchdogSec=`` in the unit, systemd restarts a process whose event loop stopped turning,
which ``Restart=always`` alone never notices (the process is still there). Outside systemd this does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket


def notify(message: str) -> bool:
    """Send one notification; False when not started by systemd (no ``NOTIFY_SOCKET``) or the send failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # abstract namespace
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_interval_s() -> float | None:
    """Half the unit's ``WatchdogSec`` (systemd's advice), or None when no watchdog is asked for."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(int(usec) / 2e6, 0.01)
    except ValueError:
        return None


async def keep_alive(stop: asyncio.Event) -> None:
    """Ping the watchdog from the event loop until ``stop``: a loop that hangs stops pinging and gets restarted."""
    interval = watchdog_interval_s()
    if interval is None:
        await stop.wait()
        return
    while not stop.is_set():
        notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
