"""testkit.localsvc.PostgreSQL: a real cluster that keeps what it committed through a SIGKILL."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from testkit.localsvc import PostgreSQL


def test_a_committed_row_survives_sigkill_and_restart(postgres: PostgreSQL) -> None:
    port, pid = postgres.port, postgres.proc.pid if postgres.proc else 0
    conn = psycopg.connect(postgres.dsn)
    assert conn.execute("SHOW fsync").fetchone() == ("on",)
    assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO t VALUES (1, 'committed')")
    conn.commit()
    conn.execute("INSERT INTO t VALUES (2, 'never committed')")  # a transaction open at the kill
    backend = conn.info.backend_pid
    postgres.kill()
    assert not postgres.running
    for gone in (pid, backend):  # the postmaster and the backend both: the whole server, as in a power cut
        stat = Path(f"/proc/{gone}/stat")
        assert not stat.exists() or stat.read_text().rsplit(") ", 1)[1][0] == "Z"
    # The backend died without a word: no "terminating connection" notice, the socket just closed.
    with pytest.raises(psycopg.OperationalError) as err:
        conn.execute("SELECT 1")
    assert not isinstance(err.value, psycopg.errors.AdminShutdown)
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(postgres.dsn, connect_timeout=1).close()

    t = time.monotonic()
    postgres.start()  # crash recovery on the same data, on the same port
    assert postgres.port == port
    assert time.monotonic() - t < 30
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "committed")]


def test_stop_and_restart_keep_the_data(postgres: PostgreSQL) -> None:
    with psycopg.connect(postgres.dsn) as conn:
        conn.execute("CREATE TABLE t (id int)")
        conn.execute("INSERT INTO t VALUES (7)")
        conn.commit()
    postgres.restart()  # fast shutdown with a client still connected would hang a smart one
    with psycopg.connect(postgres.dsn) as conn:
        assert conn.execute("SELECT id FROM t").fetchall() == [(7,)]
