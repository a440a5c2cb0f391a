"""The tiny test model (shared with tests/edge/inference; built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.edge.inference import tinymodel


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tinymodel.build(tmp_path_factory.getbasetemp() / "tiny_model")
