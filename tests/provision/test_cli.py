"""`iocgw provision ...` end to end through the real CLI: files made, exit codes, and no secret on the screen."""

from __future__ import annotations

import stat

from iocgw.cli import main
from tests.provision.broker import write_node_config

PW = ["--password-port", "1883", "--conf-dir", "/etc/mosquitto/iocgw"]


def run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["provision", *argv])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_whole_setup_from_the_command_line(tmp_path, capsys):
    pki, out = str(tmp_path / "pki"), tmp_path / "broker"
    write_node_config(tmp_path / "nodes" / "river-001.yaml", "river-001")
    write_node_config(tmp_path / "nodes" / "logger-9.yaml", "logger-9")
    printed = ""
    for argv in (
        ["ca", "init", "--dir", pki],
        ["node", "river-001", "--dir", pki, "--days", "90"],
        ["server", "--dir", pki, "--host", "broker.local", "--ip", "127.0.0.1"],
        ["hub", "--dir", pki],
        ["password", "logger-9", "--dir", pki],
        ["mosquitto", "--registry", str(tmp_path / "nodes" / "*.yaml"), "--dir", pki, "--out", str(out), *PW],
    ):
        rc, text = run(capsys, *argv)
        assert rc == 0, text
        printed += text
    secrets = [p.read_text() for p in (tmp_path / "pki").rglob("*.key")]
    secrets.append((tmp_path / "pki" / "nodes" / "logger-9.password").read_text().strip())
    assert "PRIVATE KEY" not in printed
    assert not any(s in printed for s in secrets)
    conf = (out / "mosquitto.conf").read_text()
    assert "acl_file /etc/mosquitto/iocgw/acl" in conf
    assert stat.S_IMODE((out / "certs" / "server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "passwd").stat().st_mode) == 0o600
    assert "user river-001" in (out / "acl").read_text()
    assert "2 nodes" in printed
    password_listener = conf[conf.index("listener 1883") :]
    assert "certfile /etc/mosquitto/iocgw/certs/server.crt" in password_listener  # TLS without asking
    rc, text = run(capsys, "revoke", "river-001", "--dir", pki)
    assert rc == 0 and "revoked 1 certificate(s) of river-001" in text
    assert run(capsys, "crl", "--dir", pki)[0] == 0
    rc, text = run(
        capsys, "mosquitto", "--registry", str(tmp_path / "nodes" / "*.yaml"), "--dir", pki, "--out", str(out)
    )
    assert rc == 0, text
    assert "crlfile" in (out / "mosquitto.conf").read_text() and (out / "certs" / "crl.pem").exists()
    nodes = str(tmp_path / "nodes" / "*.yaml")
    rc, text = run(
        capsys, "mosquitto", "--registry", nodes, "--dir", pki, "--out", str(out), *PW, "--password-plaintext"
    )
    assert rc == 0, text
    conf = (out / "mosquitto.conf").read_text()
    assert "certfile" not in conf[conf.index("listener 1883") :]
    rc, text = run(capsys, "mosquitto", "--registry", nodes, "--dir", pki, "--out", str(out), "--password-plaintext")
    assert rc == 2 and "password listener" in text  # plain text for a listener that is not there: a mistake


def test_exit_codes(tmp_path, capsys):
    pki = str(tmp_path / "pki")
    rc, text = run(capsys, "node", "river-001", "--dir", pki)
    assert rc == 1 and "provision ca init" in text
    assert run(capsys, "ca", "init", "--dir", pki)[0] == 0
    rc, text = run(capsys, "ca", "init", "--dir", pki)
    assert rc == 1 and "already exists" in text
    rc, text = run(capsys, "node", "River/1", "--dir", pki)
    assert rc == 1 and "must match" in text
    (tmp_path / "bad.yaml").write_text("node_id: [1]\n")
    rc, text = run(capsys, "mosquitto", "--registry", str(tmp_path / "bad.yaml"), "--dir", pki, "--out", pki)
    assert rc == 2 and "bad.yaml" in text
    rc, text = run(
        capsys, "mosquitto", "--registry", str(tmp_path / "bad.yaml"), "--dir", pki, "--out", pki, "--hub", "X"
    )
    assert rc == 2
