"""systemd's notify protocol on a real datagram socket: READY=1 once up, WATCHDOG=1 while the loop turns."""

from __future__ import annotations

import asyncio
import socket

from edge.agent import Agent
from iocgw.cli import main
from plumbing import systemd
from testkit.localsvc import free_port
from wire.nodeconfig import NodeConfig


def _listen(tmp_path, monkeypatch, watchdog_usec: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(10)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
    if watchdog_usec is not None:
        monkeypatch.setenv("WATCHDOG_USEC", str(watchdog_usec))
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    return sock


def test_outside_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert systemd.notify("READY=1") is False
    assert systemd.watchdog_interval_s() is None


def test_agent_says_ready_then_pings_the_watchdog(tmp_path, monkeypatch):
    sock = _listen(tmp_path, monkeypatch, watchdog_usec=100_000)
    config = NodeConfig.model_validate(
        {"node_id": "n1", "data_dir": str(tmp_path / "n1"), "mqtt": {"port": free_port()}}
    )
    agent = Agent.open(config)
    got: list[bytes] = []

    async def body() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(agent.run(stop))
        while len([m for m in got if m == b"WATCHDOG=1"]) < 3:
            got.append(await asyncio.to_thread(sock.recv, 100))
        stop.set()
        await asyncio.wait_for(task, 30)
        got.append(await asyncio.to_thread(sock.recv, 100))

    asyncio.run(body())
    sock.close()
    assert got[0] == b"READY=1"  # sent before any task runs, so before the first ping
    assert got[-1] == b"STOPPING=1"


def test_hub_validate_reports_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "hub.yaml"
    bad.write_text("mqtt:\n  port: 0\n")
    assert main(["hub", "validate", str(bad)]) == 2
    assert f"{bad}: line 2: mqtt.port" in capsys.readouterr().err
