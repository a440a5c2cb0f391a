"""The start command `iocgw provision mosquitto` prints works as printed, as root: Mosquitto 2 then switches to its
service user before it opens the key, the passwords and the persistence folder."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from iocgw.cli import main
from testkit.localsvc import _port_open, free_port
from tests.provision.broker import Identity, write_node_config
from tests.provision.peers import Peer
from tests.support.wait import wait_until

pytestmark = pytest.mark.services

LOGGER = "logger-9"


def _service_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("mosquitto")
    except KeyError:
        return None


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or _service_user() is None or shutil.which("mosquitto", path="/usr/sbin:/usr/bin") is None,
    reason="needs root, Mosquitto and its 'mosquitto' user",
)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder the service user can reach, as /etc/mosquitto/iocgw is (pytest's own tmp folder is private)."""
    root = Path(tempfile.mkdtemp(prefix="iocgw-start-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def provision(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["provision", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def make_bundle(capsys: pytest.CaptureFixture[str], root: Path, *extra: str) -> tuple[str, str]:
    pki = str(root / "pki")
    write_node_config(root / "nodes" / "river-001.yaml", "river-001")
    write_node_config(root / "nodes" / f"{LOGGER}.yaml", LOGGER)
    for argv in (
        ["ca", "init", "--dir", pki],
        ["server", "--dir", pki, "--host", "localhost", "--ip", "127.0.0.1"],
        ["hub", "--dir", pki],
        ["password", LOGGER, "--dir", pki],
    ):
        assert provision(capsys, *argv)[0] == 0
    rc, out, err = provision(
        capsys, "mosquitto", "--registry", str(root / "nodes" / "*.yaml"), "--dir", pki, "--out", *extra
    )
    assert rc == 0, err
    return out, err


@needs_root
def test_printed_command_starts_the_broker_as_root(capsys, open_dir):
    tls_port, pw_port = free_port(), free_port()
    out, err = make_bundle(
        capsys,
        open_dir,
        str(open_dir / "broker"),
        "--data-dir",
        str(open_dir / "data"),
        "--bind",
        "127.0.0.1",
        "--port",
        str(tls_port),
        "--password-port",
        str(pw_port),
    )
    assert err == ""
    command = re.search(r"start with: (.+)$", out, re.M)
    assert command is not None, out
    log = open_dir / "mosquitto.out"
    with log.open("wb") as sink:
        broker = subprocess.Popen(shlex.split(command.group(1)), stdout=sink, stderr=subprocess.STDOUT)
    peers: list[Peer] = []
    try:
        wait_until(
            lambda: broker.poll() is not None or (_port_open(tls_port) and _port_open(pw_port)),
            timeout=15,
            what="the broker's listeners",
        )
        assert broker.poll() is None, log.read_text()
        uids = re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{broker.pid}/status").read_text(), re.M)
        user = _service_user()
        assert uids is not None and user is not None
        assert int(uids.group(1)) == user.pw_uid  # it did switch: root is not what runs the broker
        ca = str(open_dir / "pki" / "ca.crt")
        hub = Peer(tls_port, Identity(open_dir / "pki/hubs/iocgw-hub.crt", open_dir / "pki/hubs/iocgw-hub.key"), ca)
        password = (open_dir / "pki" / "nodes" / f"{LOGGER}.password").read_text().strip()
        logger = Peer(pw_port, Identity(username=LOGGER, password=password), ca)  # TLS, no client certificate
        peers += [hub, logger]
        assert not hub.connect().is_failure
        hub.subscribe("iocgw/v1/#")
        assert not logger.connect().is_failure  # the password file was readable after the switch
        logger.publish(f"iocgw/v1/{LOGGER}/telemetry", b"as printed")
        hub.wait_for(f"iocgw/v1/{LOGGER}/telemetry", b"as printed")
        wait_until(lambda: any((open_dir / "data").iterdir()), timeout=10, what="persistence written")
    finally:
        for peer in peers:
            peer.close()
        broker.kill()
        broker.wait()


@needs_root
def test_a_bundle_the_service_user_cannot_reach_is_reported(capsys, tmp_path):
    # pytest's tmp folder is 0700 root: the same as a bundle written under /root.
    private = next(p for p in reversed(tmp_path.parents) if p.stat().st_mode & 0o005 == 0)
    out, err = make_bundle(capsys, tmp_path, str(tmp_path / "broker"), "--data-dir", str(tmp_path / "data"))
    assert f"cannot read {tmp_path / 'broker' / 'acl'}" in err and f"{private} is drwx" in err
    assert len(err.splitlines()) == 1  # one cause, one line
    assert "move the bundle" in out
