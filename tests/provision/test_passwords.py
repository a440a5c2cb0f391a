"""Password entries in Mosquitto's $7$ format, checked against the real mosquitto_passwd."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess

import pytest

from hub.provision.passwords import hash_entry, read_entries, set_password, verify_entry


def test_entry_has_mosquittos_layout():
    line = hash_entry("logger-1", "pw", salt=b"\x01" * 12)
    user, hashed = line.split(":", 1)
    _, kind, iterations, salt, digest = hashed.split("$")
    assert (user, kind, iterations) == ("logger-1", "7", "101")
    assert base64.b64decode(salt) == b"\x01" * 12
    assert len(base64.b64decode(digest)) == 64
    assert verify_entry(line, "pw")
    assert not verify_entry(line, "pw ")


def test_salt_is_random():
    assert hash_entry("a", "pw") != hash_entry("a", "pw")


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd not installed")
def test_same_hash_as_mosquitto_passwd(tmp_path):
    path = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "logger-1", "s3cret"], check=True)
    theirs = path.read_text().strip()
    assert verify_entry(theirs, "s3cret")
    assert not verify_entry(theirs, "wrong")
    salt = base64.b64decode(theirs.split("$")[3])
    assert hash_entry("logger-1", "s3cret", salt=salt) == theirs


def test_set_password_keeps_the_clear_text_private_and_out_of_the_broker_file(tmp_path):
    passwd, secret = tmp_path / "mosquitto.passwd", tmp_path / "logger-1.password"
    set_password(passwd, secret, "logger-1")
    set_password(passwd, tmp_path / "logger-2.password", "logger-2")
    password = secret.read_text().strip()
    assert len(password) >= 40
    assert password not in passwd.read_text()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o600
    entries = read_entries(passwd)
    assert sorted(entries) == ["logger-1", "logger-2"]
    assert verify_entry(entries["logger-1"], password)


def test_replacing_a_password_needs_force(tmp_path):
    passwd, secret = tmp_path / "mosquitto.passwd", tmp_path / "logger-1.password"
    set_password(passwd, secret, "logger-1")
    first = secret.read_text()
    with pytest.raises(Exception, match="--force"):
        set_password(passwd, secret, "logger-1")
    set_password(passwd, secret, "logger-1", overwrite=True)
    assert secret.read_text() != first
    assert verify_entry(read_entries(passwd)["logger-1"], secret.read_text().strip())
