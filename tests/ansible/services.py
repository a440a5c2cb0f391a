"""Starting what the roles installed the way systemd would: from the unit's ExecStart and environment."""

from __future__ import annotations

import random
import shlex
import signal
import socket
import subprocess
from collections.abc import Collection
from pathlib import Path

from tests.ansible.playbook import parse_unit, unit_environment

SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # what systemd gives a service


def environment_file(path: Path) -> dict[str, str]:
    """NAME=value lines of a systemd EnvironmentFile (comments and blank lines skipped)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def start_unit(unit_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Run the unit's ExecStart in its WorkingDirectory with its Environment= and EnvironmentFile= variables.

    Not as its User=: on this machine the virtualenv's python links into /root/.pyenv (mode 0700), which no other
    user may execute, so the process runs as root; the tests check the user and the file ownership instead.
    """
    service = parse_unit(unit_path.read_text())["Service"]
    env = {"PATH": SYSTEMD_PATH, **unit_environment(service)}
    for file in service.get("EnvironmentFile", []):
        env.update(environment_file(Path(file.lstrip("-"))))
    (workdir,) = service["WorkingDirectory"]
    (command,) = service["ExecStart"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            shlex.split(command), cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM, as systemctl stop sends; SIGKILL if it does not end in time. Returns the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def port_outside_ephemeral_range(taken: Collection[int] = (), low: int = 20_000, high: int = 32_000) -> int:
    """A free port the kernel never hands out on its own (Linux's ephemeral range starts at 32768).

    The ports go into config files a minute before the services bind them (the playbook runs in between); an
    ephemeral port could be taken meanwhile by any outgoing connection on this busy machine, these cannot.
    """
    for _ in range(200):
        port = random.randint(low, high)
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {low}-{high}")
