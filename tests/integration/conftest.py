"""Fixtures of the integration tests that more than one module uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.warnings import PASSWORD_ENV
from testkit.kannel import Kannel


@pytest.fixture
def kannel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Kannel]:
    monkeypatch.setenv(PASSWORD_ENV, "kannel-test-pw-0123")
    k = Kannel(tmp_path / "kannel", password=os.environ[PASSWORD_ENV], max_messages=6)
    k.start()
    yield k
    k.stop()
