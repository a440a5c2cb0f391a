"""Fixtures of the operator API tests: the API in-process with a real engine and SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.api.auth import ApiSettings
from tests.hub.api.support import LocalHub, api_section


@pytest.fixture
def local_hub(tmp_path: Path) -> Iterator[LocalHub]:
    hub = LocalHub(tmp_path, auth=ApiSettings.model_validate(api_section()))
    yield hub
    hub.close()
