"""What the hub's PostgreSQL modules share: the connection string and creating their tables.

Cluster mode only: this imports psycopg, which a single hub never loads, so only modules that cluster mode loads
(hub/alerts/pg_*.py, hub/alerts/notify/pg_queue.py, hub/warn/pg_outbox.py) import it. The leadership session
(hub/alerts/leader.py) keeps TCP settings and a schema lock of its own, tuned to its failover bounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

# Found dead within about 10 s when the peer vanishes without closing the socket (a host down, a cable cut).
KEEPALIVE = {"keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2", "keepalives_count": "3"}

# Any constant: serialises creating schemas and tables when several hubs start at once (CREATE ... IF NOT EXISTS is
# not safe against a concurrent twin in PostgreSQL: one of them fails on the catalog's unique index). One key for
# every module: the alert store, the threshold store and the delivery queue create the same schema.
SCHEMA_LOCK = 0x10C6_A1E7


def conninfo(dsn: str, application_name: str, *, connect_timeout: int | None = None) -> str:
    """``dsn`` with the keepalives, ``application_name`` and ``connect_timeout`` added; what the DSN sets itself wins
    (an operator's setting is deliberate)."""
    wanted = {**KEEPALIVE, "application_name": application_name}
    if connect_timeout is not None:
        wanted["connect_timeout"] = str(connect_timeout)
    given = psycopg.conninfo.conninfo_to_dict(dsn)
    return psycopg.conninfo.make_conninfo(dsn, **{k: v for k, v in wanted.items() if k not in given})


def set_search_path(conn: psycopg.Connection[Any], schema: str, *, public: bool = False) -> None:
    """``schema`` first; ``public`` after it where the module resolves hub.alerts.leader's fence through its own
    connection (the fence lives in public)."""
    query = "SET search_path TO {}, public" if public else "SET search_path TO {}"
    conn.execute(sql.SQL(query).format(sql.Identifier(schema)))


def create_schema(
    conn: psycopg.Connection[Any], schema: str, statements: Iterable[str], *, public: bool = False
) -> None:
    """``schema`` and then ``statements`` (CREATE ... IF NOT EXISTS), each under SCHEMA_LOCK; the search path (see
    set_search_path) is set in between, so that the statements' unqualified names land in ``schema``, and stays
    for the session. On any failure ``conn`` is closed (a connection half set up must not be used) and the error
    raised."""
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        set_search_path(conn, schema, public=public)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for stmt in statements:
                conn.execute(stmt)
    except BaseException:
        conn.close()
        raise


def first_line(exc: BaseException) -> str:
    # libpq's messages go on for lines ("This probably means the server terminated abnormally ...").
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
