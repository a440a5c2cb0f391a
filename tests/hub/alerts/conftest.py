"""One PostgreSQL cluster per test module for the alert stores' tests (each test takes a schema of its own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from testkit.localsvc import PostgreSQL


@pytest.fixture(scope="module")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgreSQL]:
    pg = PostgreSQL(tmp_path_factory.mktemp("postgresql"))
    pg.start()
    yield pg
    pg.kill()


@pytest.fixture
def pg_schema() -> str:
    """A schema name no other test uses: the tests of one module share a cluster, not their tables."""
    return f"test_{uuid.uuid4().hex[:12]}"
