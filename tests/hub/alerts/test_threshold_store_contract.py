"""One contract for the threshold override stores, SQLite (one hub) and PostgreSQL (cluster mode), and what the
PostgreSQL store adds for several hubs: puts racing on one entry from two hubs, the generation a hub reads to know it
is behind, the notification a put sends, and overrides that outlive a PostgreSQL killed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.alerts.config import RuleTables
from hub.alerts.pg_store import PgAlertStore
from hub.alerts.pg_threshold_store import PgThresholdStore, ThresholdListener, ThresholdStoreUnavailable
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.threshold_overrides import (
    RuleManager,
    ThresholdStore,
    ThresholdStoreLike,
    VersionConflict,
)
from testkit.localsvc import PostgreSQL
from tests.support.wait import wait_until

T0 = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
STATION: dict[str, Any] = {
    "station_id": "hong-long-bien",
    "node_id": "river-longbien-01",
    "sensor_id": "stage",
    "river": "Hồng",
    "name": "Hà Nội (Long Biên)",
    "province": "Hà Nội",
    "bd1_m": 9.5,
    "bd2_m": 10.5,
    "bd3_m": 11.5,
    "source": "QĐ 05/2020/QĐ-TTg",
    "zone": 3,
}
LOWERED = {**STATION, "bd1_m": 9.0}

Opener = Callable[[], ThresholdStoreLike]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store on the same data each call (the same file, the same schema), as another hub or a restart."""
    opened: list[ThresholdStoreLike] = []
    if request.param == "sqlite":

        def open_one() -> ThresholdStoreLike:
            opened.append(ThresholdStore(tmp_path / "alerts.db"))
            return opened[-1]
    else:
        cluster: PostgreSQL = request.getfixturevalue("pg_cluster")
        schema: str = request.getfixturevalue("pg_schema")

        def open_one() -> ThresholdStoreLike:
            opened.append(PgThresholdStore(cluster.dsn, schema=schema))
            return opened[-1]

    yield open_one
    for s in opened:
        s.close()


def put(store: ThresholdStoreLike, body: dict[str, Any] | None, **kw: Any) -> Any:
    return store.put(
        "flood",
        "hong-long-bien",
        body,
        who=kw.pop("who", "hydrology-1"),
        comment=kw.pop("comment", "QĐ mới"),
        before=kw.pop("before", STATION),
        after=kw.pop("after", body),
        **kw,
    )


# -- the contract ----------------------------------------------------------------------------------------------------
def test_an_empty_store(open_store: Opener) -> None:
    store = open_store()
    assert store.overrides() == [] and store.get("flood", "hong-long-bien") is None
    assert store.audit() == [] and store.generation() == 0


def test_change_then_revert_keeps_the_row_and_raises_the_version(open_store: Opener) -> None:
    store = open_store()
    changed = put(store, LOWERED, expected_version=0, now=T0)
    assert (changed.kind, changed.item_id, changed.version, changed.updated_by) == (
        "flood",
        "hong-long-bien",
        1,
        "hydrology-1",
    )
    assert changed.body == LOWERED and changed.updated_at == T0
    assert store.get("flood", "hong-long-bien") == changed and store.overrides() == [changed]

    reverted = put(
        store, None, who="hydrology-2", before=LOWERED, after=STATION, expected_version=1, now=T0 + timedelta(hours=1)
    )
    assert (reverted.body, reverted.version, reverted.updated_by) == (None, 2, "hydrology-2")
    # The reverted row stays, so that the next change is version 3, not 1 again.
    assert store.overrides() == [reverted]
    assert put(store, LOWERED).version == 3


def test_a_stale_version_stores_nothing(open_store: Opener) -> None:
    store = open_store()
    put(store, LOWERED, expected_version=0)
    generation = store.generation()
    with pytest.raises(VersionConflict, match="at version 1, not 0"):
        put(store, {**LOWERED, "bd1_m": 8.0}, expected_version=0)
    with pytest.raises(VersionConflict):
        put(store, None, expected_version=2)
    o = store.get("flood", "hong-long-bien")
    assert o is not None and (o.version, o.body) == (1, LOWERED)
    assert len(store.audit()) == 1 and store.generation() == generation
    assert put(store, {**LOWERED, "bd1_m": 8.0}, expected_version=1).version == 2  # the right one passes


def test_audit_entries_newest_first_filtered_and_limited(open_store: Opener) -> None:
    store = open_store()
    put(store, LOWERED, comment="lần 1", now=T0)
    store.put("reservoir", "reservoir-001", {"x": 1}, who="h", comment=None, before=None, after={"x": 1})
    store.record("reload", "operator-1", "tệp mới")
    put(store, None, before=LOWERED, after=STATION, comment="về tệp")

    entries = store.audit()
    assert [(e.action, e.kind, e.item_id) for e in entries] == [
        ("revert", "flood", "hong-long-bien"),
        ("reload", None, None),
        ("change", "reservoir", "reservoir-001"),
        ("change", "flood", "hong-long-bien"),
    ]
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)
    first = entries[-1]
    assert (first.who, first.comment, first.at) == ("hydrology-1", "lần 1", T0)
    assert first.before == STATION and first.after == LOWERED
    reload = entries[1]
    assert (reload.who, reload.comment, reload.before, reload.after) == ("operator-1", "tệp mới", None, None)
    assert reload.at.tzinfo is not None
    assert [e.action for e in store.audit(kind="flood")] == ["revert", "change"]
    assert [e.action for e in store.audit(kind="flood", item_id="nowhere")] == []
    assert [e.kind for e in store.audit(item_id="reservoir-001")] == ["reservoir"]
    assert len(store.audit(limit=2)) == 2


def test_bodies_come_back_exactly(open_store: Opener) -> None:
    store = open_store()
    body = {"b": 0.1 + 0.2, "a": "Sông Hồng – trạm Hà Nội", "nested": {"z": [1, 2.5, None]}}
    put(store, body)
    o = open_store().get("flood", "hong-long-bien")
    assert o is not None and o.body == body and list(o.body) == ["b", "a", "nested"]


def test_the_generation_grows_with_every_put_and_nothing_else(open_store: Opener) -> None:
    store = open_store()
    seen = [store.generation()]
    put(store, LOWERED)
    seen.append(store.generation())
    store.put("reservoir", "reservoir-001", {"x": 1}, who="h", comment=None, before=None, after=None)
    seen.append(store.generation())
    put(store, None)
    seen.append(store.generation())
    store.record("reload", "operator-1")
    with pytest.raises(VersionConflict):
        put(store, LOWERED, expected_version=0)
    seen.append(store.generation())
    assert seen[0] == 0 < seen[1] < seen[2] < seen[3] and seen[4] == seen[3]
    assert open_store().generation() == seen[3]  # what another connection (another hub) reads


def test_overrides_outlive_the_store(open_store: Opener) -> None:
    store = open_store()
    put(store, LOWERED, now=T0)
    store.close()
    again = open_store()
    [o] = again.overrides()
    assert (o.body, o.version, o.updated_at) == (LOWERED, 1, T0)
    assert [e.action for e in again.audit()] == ["change"]


# -- RuleManager over either store -----------------------------------------------------------------------------------
def files() -> RuleTables:
    return RuleTables(flood=FloodStationTable(stations=[FloodStation.model_validate(STATION)]))


def bd1(tables: RuleTables) -> float:
    assert tables.flood is not None
    return tables.flood.stations[0].bd1_m


def test_rule_manager_applies_a_change_at_once(open_store: Opener) -> None:
    rules = RuleManager(files, open_store())
    applied: list[RuleTables] = []
    rules.bind(applied.append)
    view = rules.change(
        "flood", FloodStation.model_validate(LOWERED), who="hydrology-1", comment=None, expected_version=0
    )
    assert (view.version, view.overridden, view.item["bd1_m"]) == (1, True, 9.0)
    assert [bd1(t) for t in applied] == [9.0] and bd1(rules.current) == 9.0
    assert rules.refresh() is False and len(applied) == 1  # its own change: nothing to catch up on
    with pytest.raises(VersionConflict):
        rules.revert("flood", "hong-long-bien", who="hydrology-1", comment=None, expected_version=0)
    assert rules.revert("flood", "hong-long-bien", who="hydrology-1", comment=None, expected_version=1).version == 2
    assert [bd1(t) for t in applied] == [9.0, 9.5]


def test_a_manager_opened_later_starts_with_the_overrides(open_store: Opener) -> None:
    put(open_store(), LOWERED)
    rules = RuleManager(files, open_store())
    assert bd1(rules.current) == 9.0 and rules.refresh() is False


# -- cluster mode: several hubs on one PostgreSQL --------------------------------------------------------------------
@pytest.fixture
def pg_stores(pg_cluster: PostgreSQL, pg_schema: str) -> Iterator[Callable[[], PgThresholdStore]]:
    opened: list[PgThresholdStore] = []

    def open_one() -> PgThresholdStore:
        opened.append(PgThresholdStore(pg_cluster.dsn, schema=pg_schema))
        return opened[-1]

    yield open_one
    for s in opened:
        s.close()


def test_two_hubs_racing_on_one_entry_exactly_one_wins(
    pg_cluster: PostgreSQL, pg_schema: str, pg_stores: Callable[[], PgThresholdStore]
) -> None:
    """Both hubs read version 0 and put with it at the same moment: the first to commit wins, the other gets
    VersionConflict and stores nothing. The puts are made to wait on each other for sure: a third session holds the
    generation row's lock until both are in flight."""
    a, b = pg_stores(), pg_stores()
    results: dict[str, object] = {}

    def attempt(name: str, store: PgThresholdStore, bd1_m: float) -> None:
        try:
            results[name] = put(store, {**LOWERED, "bd1_m": bd1_m}, who=name, expected_version=0)
        except Exception as exc:
            results[name] = exc

    with psycopg.connect(pg_cluster.dsn, autocommit=True) as blocker:
        with blocker.transaction():
            blocker.execute(f'SELECT generation FROM "{pg_schema}".threshold_generation FOR UPDATE')
            threads = [
                threading.Thread(target=attempt, args=("hub-a", a, 9.0)),
                threading.Thread(target=attempt, args=("hub-b", b, 8.0)),
            ]
            for t in threads:
                t.start()
            # Until both puts are in flight, waiting for the lock.
            deadline = time.monotonic() + 10
            while _blocked(pg_cluster.dsn, [a, b]) < 2:
                assert time.monotonic() < deadline, "the two puts never reached the lock"
                time.sleep(0.01)
        for t in threads:
            t.join(10)
    conflicts = [n for n, r in results.items() if isinstance(r, VersionConflict)]
    winners = [n for n, r in results.items() if not isinstance(r, Exception)]
    assert len(conflicts) == 1 and len(winners) == 1, results
    [o] = a.overrides()
    assert (o.version, o.updated_by) == (1, winners[0])
    assert o.body is not None and o.body["bd1_m"] == {"hub-a": 9.0, "hub-b": 8.0}[winners[0]]
    assert [e.who for e in b.audit()] == winners and a.generation() == 1


def _blocked(dsn: str, stores: list[PgThresholdStore]) -> int:
    """How many of the stores' sessions wait on a lock (the second put waits on the first's tuple lock, not on the
    blocker's). Asked on a connection of its own: inside a transaction pg_stat_activity is one snapshot."""
    with psycopg.connect(dsn, autocommit=True) as watcher:
        row = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s) AND cardinality(pg_blocking_pids(pid)) > 0",
            ([s.conn.info.backend_pid for s in stores],),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_many_hubs_racing_without_help(pg_stores: Callable[[], PgThresholdStore]) -> None:
    """No lock from outside: six stores put on one entry at once with what they read, five rounds; every round
    exactly one wins and the version goes up by one."""
    stores = [pg_stores() for _ in range(6)]
    for round_ in range(5):
        start = threading.Barrier(len(stores))
        outcomes: list[object] = []

        def attempt(
            i: int, store: PgThresholdStore, version: int, start: threading.Barrier, outcomes: list[object]
        ) -> None:
            start.wait(5)
            try:
                outcomes.append(
                    put(store, {**LOWERED, "bd1_m": 9.0 - i / 10}, who=f"hub-{i}", expected_version=version)
                )
            except VersionConflict as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=attempt, args=(i, s, round_, start, outcomes)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(outcomes) == 6 and sum(not isinstance(x, VersionConflict) for x in outcomes) == 1, outcomes
    o = stores[0].get("flood", "hong-long-bien")
    assert o is not None and o.version == 5 and stores[3].generation() == 5
    assert len(stores[1].audit()) == 5


def test_another_hubs_change_reaches_this_hubs_tables_on_refresh(pg_stores: Callable[[], PgThresholdStore]) -> None:
    here, there = RuleManager(files, pg_stores()), RuleManager(files, pg_stores())
    applied: list[RuleTables] = []
    here.bind(applied.append)
    there.change("flood", FloodStation.model_validate(LOWERED), who="hydrology-1", comment=None, expected_version=0)
    assert bd1(here.current) == 9.5  # not yet: nothing told it
    # What the API shows, and what a change checks against, is caught up first.
    view = here.item("flood", "hong-long-bien")
    assert (view.version, view.item["bd1_m"]) == (1, 9.0) and [bd1(t) for t in applied] == [9.0]
    there.revert("flood", "hong-long-bien", who="hydrology-1", comment=None)
    assert here.refresh() is True and bd1(here.current) == 9.5 and [bd1(t) for t in applied] == [9.0, 9.5]
    assert here.refresh() is False and len(applied) == 2
    with pytest.raises(VersionConflict):  # here still had version 1 in mind; there moved to 2
        here.change("flood", FloodStation.model_validate(LOWERED), who="h", comment=None, expected_version=1)


def test_an_engine_bound_late_gets_what_changed_before(pg_stores: Callable[[], PgThresholdStore]) -> None:
    """A hub becoming leader builds its engine, then binds it with now=True: a change committed in between (on any
    hub) is in the tables the engine gets, never lost to a generation already counted."""
    rules, other = RuleManager(files, pg_stores()), RuleManager(files, pg_stores())
    rules.bind(None)
    rules.change("flood", FloodStation.model_validate(LOWERED), who="h", comment=None)  # no engine to apply to yet
    other.change("flood", FloodStation.model_validate({**LOWERED, "bd1_m": 8.5}), who="h", comment=None)
    engine: list[RuleTables] = []
    rules.bind(engine.append, now=True)
    assert [bd1(t) for t in engine] == [8.5]
    rules.bind(None)  # the hub stopped leading
    other.revert("flood", "hong-long-bien", who="h", comment=None)
    assert rules.refresh() is True and len(engine) == 1 and bd1(rules.current) == 9.5


def test_a_put_notifies_listeners_when_it_commits(
    pg_cluster: PostgreSQL, pg_stores: Callable[[], PgThresholdStore]
) -> None:
    store = pg_stores()
    listener = ThresholdListener(pg_cluster.dsn)
    try:
        assert listener.wait(0.2) is False  # LISTENing from here on
        put(store, LOWERED)
        put(store, None)
        start = time.monotonic()
        assert listener.wait(5) is True and time.monotonic() - start < 1
        # The second put's notification may come a moment after the first: at most one more wake-up for the two.
        assert listener.wait(0.3) is False or listener.wait(0.3) is False
        with pytest.raises(VersionConflict):
            put(store, LOWERED, expected_version=0)
        store.record("reload", "operator-1")
        assert listener.wait(0.3) is False  # nothing committed that changes an override
        got: list[bool] = []
        waiter = threading.Thread(target=lambda: got.append(listener.wait(10)))
        waiter.start()
        wait_until(listener._lock.locked, what="the waiter waiting")  # wait() holds the lock while it waits
        start = time.monotonic()
        put(pg_stores(), LOWERED)  # another hub
        waiter.join(10)
        assert got == [True] and time.monotonic() - start < 1
    finally:
        listener.close()


def test_a_listener_closed_while_waiting_returns(pg_cluster: PostgreSQL) -> None:
    listener = ThresholdListener(pg_cluster.dsn)
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(listener.wait(1.0)))
    waiter.start()
    wait_until(listener._lock.locked, what="the waiter waiting")  # wait() holds the lock while it waits
    listener.close()  # does not wait for it
    waiter.join(5)
    assert got == [False] and listener.wait(0.1) is False


def test_several_hubs_create_the_schema_at_once(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    """Threshold and alert stores of several hubs starting together on an empty database."""
    start = threading.Barrier(6)
    opened: list[PgThresholdStore | PgAlertStore] = []
    errors: list[BaseException] = []

    def open_one(i: int) -> None:
        start.wait(5)
        try:
            store = (
                PgThresholdStore(pg_cluster.dsn, schema=pg_schema)
                if i % 2
                else PgAlertStore(pg_cluster.dsn, schema=pg_schema)
            )
            opened.append(store)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(opened) == 6
    pg = [s for s in opened if isinstance(s, PgThresholdStore)]
    assert {s.generation() for s in pg} == {0}  # the counter's row made once
    for s in opened:
        s.close()


def test_overrides_survive_postgresql_killed_and_the_store_reconnects(postgres: PostgreSQL) -> None:
    store = PgThresholdStore(postgres.dsn)
    put(store, LOWERED, now=T0)
    generation = store.generation()
    postgres.kill()  # SIGKILL, server and backends, as a power cut
    with pytest.raises(psycopg.OperationalError):
        put(store, None, expected_version=1)  # a write is never retried: whether it committed would be unknown
    with pytest.raises(ThresholdStoreUnavailable) as err:
        store.overrides()  # no PostgreSQL to reopen on
    # What the API can answer 503 on without importing psycopg.
    assert isinstance(err.value, ConnectionError) and isinstance(err.value, psycopg.OperationalError)
    postgres.start()
    # The same store (a hub's API) reads and writes again without a restart of the hub.
    [o] = store.overrides()
    assert (o.body, o.version, o.updated_at) == (LOWERED, 1, T0)
    assert store.generation() == generation
    assert put(store, None, expected_version=1).version == 2
    again = PgThresholdStore(postgres.dsn)
    assert [e.action for e in again.audit()] == ["revert", "change"] and again.generation() == generation + 1
    store.close()
    again.close()
