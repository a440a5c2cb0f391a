"""The dispatcher's queue for the tests that run on both: one hub's SQLite file, or PostgreSQL shared by hubs.

``new_queue()`` opens another queue on the same storage each time it is called (a restart, or a second hub): the same
file, or the same schema of the module's PostgreSQL cluster (``pg_cluster``, tests/hub/alerts/conftest.py, started
only when a PostgreSQL case runs).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.alerts.notify.delivery_queue import DeliveryQueue, SqliteQueue
from hub.alerts.notify.pg_queue import PgQueue

NewQueue = Callable[[], DeliveryQueue]

# Short so that a test waiting for a lease (or another hub's rows) stays fast: workers look every 50 ms, and a
# lease is an attempt's guard_s plus half a second.
PG_POLL_S = 0.05
PG_LEASE_MARGIN_S = 0.5


@pytest.fixture(params=["sqlite", "postgresql"])
def new_queue(request: pytest.FixtureRequest, tmp_path: Path) -> NewQueue:
    if request.param == "sqlite":
        return lambda: SqliteQueue(tmp_path / "notify.db")
    dsn = request.getfixturevalue("pg_cluster").dsn
    schema = f"test_{uuid.uuid4().hex[:12]}"
    return lambda: PgQueue(dsn, schema=schema, poll_s=PG_POLL_S, lease_margin_s=PG_LEASE_MARGIN_S)
