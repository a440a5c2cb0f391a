"""What PgAlertStore adds to the store contract (test_store.py) for an alert leader: the nodes' evaluated sequences,
fencing by leadership epoch, several hubs opening it at once, and a PostgreSQL killed under it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import psycopg
import pytest

from hub.alerts import leader
from hub.alerts.alarm import NOTIFY_ON, Alarm, Condition, Transition, apply_condition
from hub.alerts.pg_store import PgAlertStore
from testkit.localsvc import PostgreSQL

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def created(subject: str, rule: str = "flood_level") -> tuple[Alarm, Transition]:
    alarm, transition = apply_condition(None, rule, subject, Condition(active=True, level=1), T0, "01001")
    assert alarm is not None and transition is not None
    return alarm, transition


def test_node_seq_advances_inside_commit_and_never_goes_back(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    store = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    assert store.node_seqs() == {} and store.node_seq("n1") is None
    store.commit([], {"k": 1}, set(), node_seq={"n1": 10, "n2": 3})
    store.commit([], {}, set(), node_seq={"n1": 7, "n2": 4})  # n1's 7 is older than what was evaluated
    assert store.node_seq("n1") == 10 and store.node_seq("n2") == 4
    # With a failed commit, the sequences it carried are not recorded either: those messages are evaluated again.
    with pytest.raises(psycopg.errors.UniqueViolation):
        store.commit([created("s1"), created("s1")], {}, set(), node_seq={"n1": 20, "n3": 1})
    reader = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    assert reader.node_seqs() == {"n1": 10, "n2": 4}
    store.close()
    reader.close()


def test_dedupe_trackers_are_committed_with_the_batch_and_read_back(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    store = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    assert store.dedupe_state() == {}
    store.commit([], {}, set(), dedupe={"n1": (10, [12, 15]), "n2": (0, [5000])})
    store.commit([], {}, set(), dedupe={"n1": (12, [15])})  # the tracker as of the later batch replaces it whole
    with pytest.raises(psycopg.errors.UniqueViolation):  # a failed commit records none of its trackers
        store.commit([created("s1"), created("s1")], {}, set(), dedupe={"n1": (99, []), "n3": (1, [])})
    reader = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    assert reader.dedupe_state() == {"n1": (12, [15]), "n2": (0, [5000])}
    store.close()
    reader.close()


def test_a_fence_hook_runs_first_in_the_commit(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    """hub.alerts.leader's fence (its own leadership row, in public) through the store's connection and transaction."""
    with psycopg.connect(pg_cluster.dsn, autocommit=True) as admin:
        leader.ensure_schema(admin)
        admin.execute(
            "INSERT INTO leadership (key, epoch, holder, since) VALUES (%s, 1, 'hub-1', now()) "
            "ON CONFLICT (key) DO UPDATE SET epoch = 1",
            (leader.ALERT_LEADER_KEY,),
        )
        store = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
        store.commit([created("s1")], {"k": 1}, set(NOTIFY_ON), fence=lambda c: leader.fence(c, 1))
        admin.execute("UPDATE leadership SET epoch = 2 WHERE key = %s", (leader.ALERT_LEADER_KEY,))
        with pytest.raises(leader.StaleEpoch):
            store.commit([created("s2")], {"k": 2}, set(NOTIFY_ON), ["l"], fence=lambda c: leader.fence(c, 1))
        assert set(store.active_alarms()) == {("flood_level", "s1")}
        assert store.rule_state() == {"k": 1} and store.pending_lines()[1] == [] and len(store.undispatched()) == 1
        store.close()


def test_several_hubs_open_a_new_store_at_once(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    start = threading.Barrier(6)
    stores: list[PgAlertStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            stores.append(PgAlertStore(pg_cluster.dsn, schema=pg_schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(stores) == 6
    assert all(s.active_alarms() == {} and s.rule_state() == {} for s in stores)  # one schema, made once
    for s in stores:
        s.close()


def test_what_was_committed_survives_postgresql_killed(postgres: PostgreSQL) -> None:
    store = PgAlertStore(postgres.dsn)
    events = store.commit([created("s1")], {"P": 10.5}, set(NOTIFY_ON), ["l1"], node_seq={"n1": 42})
    postgres.kill()  # SIGKILL, server and backends: the store's connection is gone with them
    with pytest.raises(psycopg.OperationalError):
        store.commit([], {"P": 11.0}, set())  # refused, never silently re-opened
    store.close()

    postgres.start()
    again = PgAlertStore(postgres.dsn)
    assert [(i, a.id) for i, a, _ in again.undispatched()] == [(events[0][0], events[0][1].id)]
    assert again.active_alarms() == {events[0][1].key: events[0][1]}
    assert again.rule_state() == {"P": 10.5}
    assert again.pending_lines()[1] == ["l1"]
    assert again.node_seqs() == {"n1": 42}
    again.close()
