"""Fixtures for the Ansible tests: one wheel of the working tree per session, a throwaway service user."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.playbook import build_wheel


@pytest.fixture(scope="session")
def iocgw_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def service_user() -> Iterator[str]:
    """A unique name for the system user and group the role creates; both are removed afterwards."""
    name = f"iocgwt{secrets.token_hex(3)}"
    yield name
    subprocess.run(["userdel", name], capture_output=True, check=False)
    subprocess.run(["groupdel", name], capture_output=True, check=False)
