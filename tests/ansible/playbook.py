"""Running the repository's playbooks and reading what they wrote: helpers for the Ansible tests."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = REPO / "ansible"
BIN = Path(sys.executable).parent

_RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, dict[str, int]]

    def counts(self, host: str = "localhost") -> dict[str, int]:
        assert host in self.recap, f"no recap for {host} in:\n{self.output[-4000:]}"
        return self.recap[host]


def ansible_env(home: Path) -> dict[str, str]:
    """Ansible's own state (temp files, facts) in the test's folder, plain output, the repository's ansible.cfg."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(home / "remote-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
    }


def run_playbook(playbook: str, inventory: Path, home: Path, *args: str, timeout: float = 300) -> PlaybookRun:
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), *args, playbook],
        cwd=ANSIBLE_DIR,
        env=ansible_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = proc.stdout + proc.stderr
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")} for m in _RECAP.finditer(output)
    }
    return PlaybookRun(proc.returncode, output, recap)


def build_wheel(out: Path) -> Path:
    """A wheel of the working tree, built offline from a copy so nothing is written into the repository."""
    src = out / "src"
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", ".node-red", "build", "*.egg-info", "*.db*")
    for package in ("wire", "plumbing", "edge", "hub", "simulators", "iocgw"):  # what pyproject.toml packages
        shutil.copytree(REPO / package, src / package, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    dist = out / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("iocgw-*.whl")
    return wheel


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file as {section: {key: [values in order]}} (comments and blank lines dropped)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"directive outside a section: {line!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def unit_environment(service: dict[str, list[str]]) -> dict[str, str]:
    """The variables the unit's Environment= lines set (systemd's quoting: each word is NAME=value)."""
    env: dict[str, str] = {}
    for line in service.get("Environment", []):
        for word in shlex.split(line):
            name, _, value = word.partition("=")
            env[name] = value
    return env
