"""Cluster mode's live alarm push and the API's PostgreSQL reader, on a real PostgreSQL (killed and restarted in some
tests): PgAlertStore.commit notifies the changed ids on commit only, PgAlarmListener hears them across a restart and
stops at once, the reader reads again after a restart, and the console's event stream carries it all over HTTP."""

from __future__ import annotations

import http.client
import json
import queue
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from hub.alerts import leader
from hub.alerts.alarm import NOTIFY_ON, Alarm, Condition, Transition, apply_condition
from hub.alerts.pg_alarm_feed import PgAlarmListener
from hub.alerts.pg_store import NOTIFY_MAX_BYTES, PgAlertStore, StoreUnavailable, notify_payloads
from hub.api.app import FEED, make_app
from hub.api.auth import ApiSettings, Role
from hub.metrics import Metrics
from hub.store.state import HubState
from testkit.localsvc import PostgreSQL
from tests.hub.api.support import TOKENS, Client, Pipeline, ServerThread, api_section

WAIT_S = 15.0  # generous: under a full run's load; each wait ends as soon as what it waits for comes


def created(subject: str, rule: str = "flood_level") -> tuple[Alarm, Transition]:
    now = datetime.now(UTC)
    alarm, transition = apply_condition(None, rule, subject, Condition(active=True, level=1), now, "01001")
    assert alarm is not None and transition is not None
    return alarm, transition


class Heard:
    """What a listener was told, in order, awaited with a timeout."""

    def __init__(self) -> None:
        self.q: queue.Queue[list[str]] = queue.Queue()

    def __call__(self, ids: list[str]) -> None:
        self.q.put(list(ids))

    def next(self, timeout: float = WAIT_S) -> list[str]:
        try:
            return self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the listener heard nothing within {timeout} s") from None

    def until(self, wanted: set[str], timeout: float = WAIT_S) -> list[list[str]]:
        """Messages until ``wanted`` ids were all told (a commit's ids may come in several notifications)."""
        got: list[list[str]] = []
        deadline = time.monotonic() + timeout
        while not wanted <= {i for m in got for i in m}:
            got.append(self.next(max(0.0, deadline - time.monotonic())))
        return got


@contextmanager
def listening(dsn: str, schema: str = "iocgw_alerts") -> Iterator[tuple[PgAlarmListener, Heard]]:
    heard = Heard()
    listener = PgAlarmListener(dsn, heard, schema=schema)
    listener.start()
    try:
        assert listener.wait_listening(WAIT_S), "the listener never reached LISTEN"
        yield listener, heard
    finally:
        listener.stop()


def test_payloads_stay_under_postgresqls_limit_and_keep_every_id_in_order() -> None:
    ids = [f"{i:032x}" for i in range(1000)]
    payloads = notify_payloads(ids)
    assert len(payloads) > 1 and all(len(p.encode()) < min(NOTIFY_MAX_BYTES + 1, 8000) for p in payloads)
    assert [i for p in payloads for i in json.loads(p)] == ids
    assert notify_payloads([]) == []


def test_a_commits_alarm_ids_reach_the_listener(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    store = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    with listening(pg_cluster.dsn, pg_schema) as (listener, heard):
        a, b = created("s1"), created("s2")
        store.commit([a, b], {"k": 1}, set(NOTIFY_ON))
        assert sorted(heard.next()) == sorted([a[0].id, b[0].id])
        # A commit that changes no alarm (rule state, node sequences) says nothing: the next message is the next
        # commit's, since notifications come in commit order.
        store.commit([], {"k": 2}, set(), node_seq={"n1": 3})
        c = created("s3")
        store.commit([c], {}, set(NOTIFY_ON))
        assert heard.next() == [c[0].id]
        # More ids than one notification holds: several, every id once.
        many = [created(f"bulk-{i}") for i in range(600)]
        store.commit(many, {}, set())
        messages = heard.until({m[0].id for m in many})
        assert len(messages) > 1 and sorted(i for m in messages for i in m) == sorted(m[0].id for m in many)
        assert listener.connects == 1
    store.close()


def test_a_failed_or_uncommitted_commit_notifies_nothing(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    store = PgAlertStore(pg_cluster.dsn, schema=pg_schema)
    with listening(pg_cluster.dsn, pg_schema) as (_, heard):
        # Refused by the database (two active alarms for one rule and subject): rolled back, nothing told.
        with pytest.raises(psycopg.errors.UniqueViolation):
            store.commit([created("dup"), created("dup")], {}, set())
        # Fenced off: another leader took the epoch (hub/alerts/leader.py's fence, as the cluster's leader uses it).
        with psycopg.connect(pg_cluster.dsn, autocommit=True) as admin:
            leader.ensure_schema(admin)
            admin.execute(
                "INSERT INTO leadership (key, epoch, holder, since) VALUES (%s, 2, 'hub-2', now()) "
                "ON CONFLICT (key) DO UPDATE SET epoch = 2",
                (leader.ALERT_LEADER_KEY,),
            )
        with pytest.raises(leader.StaleEpoch):
            store.commit([created("stale")], {}, set(), fence=lambda c: leader.fence(c, 1))
        # A commit inside a transaction still open (a savepoint of it), then rolled back: its notification, queued
        # until the end, goes with it.
        rolled_back = created("rolled-back")

        class Abort(Exception):
            pass

        with pytest.raises(Abort), store.conn.transaction():
            store.commit([rolled_back], {}, set())
            assert store.conn.execute("SELECT count(*) FROM alarms").fetchone() == (1,)  # written, not committed
            raise Abort
        # The next thing heard is the next good commit.
        good = created("good")
        store.commit([good], {}, set())
        assert heard.next() == [good[0].id]
    store.close()


def test_the_listener_survives_postgresql_killed_and_refreshes_after(postgres: PostgreSQL) -> None:
    store = PgAlertStore(postgres.dsn)
    with listening(postgres.dsn) as (listener, heard):
        first = created("s1")
        store.commit([first], {}, set())
        assert heard.next() == [first[0].id]
        postgres.kill()  # SIGKILL: the listener's connection dies with its backend, nothing is said
        store.close()
        postgres.start()
        # Listening again, it names every active alarm (what a console may have missed): a refresh.
        assert heard.next() == [first[0].id]
        assert listener.connects == 2 and listener.listening.is_set()
        store = PgAlertStore(postgres.dsn)
        later = created("s2")
        store.commit([later], {}, set())
        assert heard.next() == [later[0].id]
    store.close()


def test_stop_returns_at_once_listening_or_waiting_to_reconnect(pg_cluster: PostgreSQL) -> None:
    with listening(pg_cluster.dsn) as (listener, _):
        started = time.monotonic()
        listener.stop()
        assert time.monotonic() - started < 0.5
        assert not listener.listening.is_set()
    # Nothing listens on this port: the listener is in its back-off between attempts.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    heard = Heard()
    nowhere = PgAlarmListener(f"postgresql://iocgw@127.0.0.1:{port}/iocgw?connect_timeout=2", heard)
    nowhere.start()
    deadline = time.monotonic() + WAIT_S
    while nowhere.connect_failures < 2:  # then it is in (or about to be in) its back-off
        assert time.monotonic() < deadline, "the listener never tried to connect"
        time.sleep(0.01)
    started = time.monotonic()
    nowhere.stop()
    assert time.monotonic() - started < 0.5
    assert heard.q.empty() and nowhere.connects == 0


def test_the_api_reader_reads_again_after_postgresql_restarts(postgres: PostgreSQL) -> None:
    writer = PgAlertStore(postgres.dsn)
    reader = PgAlertStore(postgres.dsn, application_name="iocgw-api", reopen_reads=True)
    alarm, transition = created("s1")
    writer.commit([(alarm, transition)], {}, set())
    assert reader.get(alarm.id) == alarm
    writer.close()

    # Killed and back between two reads: the next read is answered, on a new connection.
    postgres.kill()
    postgres.start()
    assert [a.id for a in reader.alarms(active=True)] == [alarm.id]
    assert reader.reopened == 1

    # Read while it is down: a clear error, a ConnectionError for the API (which imports no psycopg).
    postgres.kill()
    with pytest.raises(StoreUnavailable, match="PostgreSQL cannot be reached") as err:
        reader.get(alarm.id)
    assert isinstance(err.value, ConnectionError) and isinstance(err.value, psycopg.OperationalError)
    postgres.start()
    assert reader.get(alarm.id) == alarm
    assert reader.active_alarms() == {alarm.key: alarm}

    # The reader never writes (a leader's store is never reopened: test_pg_store.py).
    with pytest.raises(RuntimeError, match="never writes"):
        reader.commit([], {"k": 1}, set())
    reader.close()
    with pytest.raises(psycopg.OperationalError, match="closed"):  # closed by its owner: not reopened
        reader.get(alarm.id)
    assert reader.reopened == 2


@contextmanager
def event_stream(port: int, token: str) -> Iterator[http.client.HTTPResponse]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        conn.request("GET", "/api/events", headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        yield resp
    finally:
        conn.close()


def next_event(resp: http.client.HTTPResponse) -> dict[str, str]:
    """The next event's fields (comments and the retry line skipped); the socket's timeout bounds the wait."""
    fields: dict[str, str] = {}
    while True:
        line = resp.readline().decode("utf-8").rstrip("\n")
        if not line:
            if "event" in fields:
                return fields
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


def test_every_hubs_console_hears_the_leaders_commits_over_a_postgresql_restart(
    postgres: PostgreSQL, tmp_path: Path
) -> None:
    """The API as a hub in cluster mode builds it (no engine here): the alarms from the reader, the event stream fed
    by the listener; PostgreSQL killed: 503 with the reason, then answers and a refresh once it is back."""
    leader = PgAlertStore(postgres.dsn)
    reader = PgAlertStore(postgres.dsn, application_name="iocgw-api", reopen_reads=True)
    listener = PgAlarmListener(postgres.dsn)
    state = HubState(tmp_path / "hub.db")
    state.register([])
    app = make_app(
        Pipeline(),
        Metrics(),
        state,
        300.0,
        alerts=reader,
        auth=ApiSettings.model_validate(api_section()),
        alarm_changes=listener.subscribe,
    )
    listener.start()
    server = ServerThread(app).start()
    api = Client(f"http://127.0.0.1:{server.port}").as_(Role.VIEWER)
    try:
        assert listener.wait_listening(WAIT_S)
        with event_stream(server.port, TOKENS[Role.VIEWER]) as stream:
            assert app[FEED].open_streams == 1
            alarm, transition = created("s1")
            leader.commit([(alarm, transition)], {}, set())
            event = next_event(stream)
            assert event["event"] == "alerts" and json.loads(event["data"])["ids"] == [alarm.id]
            assert [a["id"] for a in api.get("/api/alerts").body["alerts"]] == [alarm.id]

            postgres.kill()
            leader.close()
            down = api.get("/api/alerts")
            assert down.status == 503, down.body
            assert "PostgreSQL cannot be reached" in down.body["error"]
            assert api.get(f"/api/alerts/{alarm.id}").status == 503

            postgres.start()
            # The listener back: a refresh naming the active alarms; the API answers again.
            assert json.loads(next_event(stream)["data"])["ids"] == [alarm.id]
            assert api.get(f"/api/alerts/{alarm.id}").body["id"] == alarm.id
            leader = PgAlertStore(postgres.dsn)
            later, transition = created("s2")
            leader.commit([(later, transition)], {}, set())
            assert json.loads(next_event(stream)["data"])["ids"] == [later.id]
    finally:
        server.stop()
        listener.stop()
        leader.close()
        reader.close()
        state.close()
