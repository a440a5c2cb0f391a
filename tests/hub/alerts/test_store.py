"""The alarm store's contract, run against both stores: AlertStore (SQLite, one hub) and PgAlertStore (PostgreSQL,
several hubs). Whatever the engine and the API rely on is asserted here, so that the two cannot drift."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.alerts.alarm import NOTIFY_ON, Alarm, Condition, Transition, acknowledge, apply_condition
from hub.alerts.pg_store import AlertStoreLike, PgAlertStore
from hub.alerts.store import AlertStore
from testkit.localsvc import PostgreSQL

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)

OpenStore = Callable[[], AlertStoreLike]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens a store on the same data each time it is called (the engine's and the API's instances, a restart)."""
    opened: list[AlertStoreLike] = []
    if request.param == "sqlite":

        def factory() -> AlertStoreLike:
            opened.append(AlertStore(tmp_path / "alerts.db"))
            return opened[-1]
    else:
        cluster: PostgreSQL = request.getfixturevalue("pg_cluster")
        schema: str = request.getfixturevalue("pg_schema")

        def factory() -> AlertStoreLike:
            opened.append(PgAlertStore(cluster.dsn, schema=schema))
            return opened[-1]

    yield factory
    for store in opened:
        store.close()


def change(
    existing: Alarm | None, subject: str, minutes: int, active: bool = True, level: int = 1, area: str = "01001"
) -> tuple[Alarm, Transition]:
    alarm, transition = apply_condition(
        existing,
        "flood_level",
        subject,
        Condition(active=active, level=level, value=float(level)),
        T0 + timedelta(minutes=minutes),
        area,
    )
    assert alarm is not None and transition is not None
    return alarm, transition


def test_the_area_filter_applies_before_the_limit(open_store: OpenStore) -> None:
    """An area's alarms must not vanish because other areas' newer alarms filled the page first."""
    store = open_store()
    changed = []
    # One alarm in province 46, then 30 newer ones in 01.
    for i, area in enumerate(["46001"] + ["01001"] * 30):
        alarm, transition = apply_condition(
            None, "flood_level", f"station-{i}", Condition(active=True, level=1), T0 + timedelta(minutes=i), area
        )
        assert alarm is not None and transition is not None
        changed.append((alarm, transition))
    store.commit(changed, {}, set())
    assert [a.subject for a in store.alarms(area="46", limit=10)] == ["station-0"]
    assert len(store.alarms(area="01", limit=10)) == 10
    assert {a.area for a in store.alarms(area="01001", limit=100)} == {"01001"}
    assert store.alarms(area="4", limit=5)[0].area == "46001"
    assert store.alarms(area="99", limit=100) == []


def test_events_are_returned_once_and_stay_undispatched_until_marked(open_store: OpenStore) -> None:
    store = open_store()
    created = change(None, "s1", 0)
    escalated = change(created[0], "s1", 5, level=2)
    deescalated = change(escalated[0], "s1", 10, level=1)
    assert [t for _, t in (created, escalated, deescalated)] == [
        Transition.CREATED,
        Transition.ESCALATED,
        Transition.DEESCALATED,
    ]
    first = store.commit([created], {}, set(NOTIFY_ON))
    second = store.commit([escalated, deescalated], {}, set(NOTIFY_ON))  # deescalated is not asked for
    assert [(a.revision, t) for _, a, t in first + second] == [
        (created[0].revision, Transition.CREATED),
        (escalated[0].revision, Transition.ESCALATED),
    ]
    ids = [i for i, _, _ in first + second]
    assert ids == sorted(ids) and len(set(ids)) == 2
    # The same transitions again (a message replayed after a crash): stored once, not returned again.
    assert store.commit([created, escalated], {}, set(NOTIFY_ON)) == []

    reader = open_store()  # what a restarted engine finds
    pending = reader.undispatched()
    assert [(i, a.id, a.revision, t) for i, a, t in pending] == [(i, a.id, a.revision, t) for i, a, t in first + second]
    assert pending[1][1] == escalated[0]  # the alarm as it was at that transition, in full
    store.mark_dispatched([ids[0]])
    store.mark_dispatched([])
    assert [i for i, _, _ in reader.undispatched()] == [ids[1]]
    store.mark_dispatched([ids[1]])
    assert reader.undispatched() == []


def test_active_alarms_get_and_the_lists(open_store: OpenStore) -> None:
    store = open_store()
    a1 = change(None, "s1", 0)
    b1 = change(None, "s2", 1, area="46001")
    store.commit([a1, b1], {}, set())
    a2 = change(a1[0], "s1", 2, active=False)  # cleared: history from now on
    a3 = change(a2[0], "s1", 3, level=3)  # a new activation opens a new alarm
    assert a2[1] is Transition.CLEARED and a3[1] is Transition.CREATED and a3[0].id != a1[0].id
    store.commit([a2, a3], {}, set())
    acked, ack = acknowledge(b1[0], "officer", "seen", T0 + timedelta(minutes=4))
    assert ack is Transition.ACKNOWLEDGED
    store.commit([(acked, ack)], {}, set(NOTIFY_ON))

    reader = open_store()
    active = reader.active_alarms()
    assert active == {("flood_level", "s1"): a3[0], ("flood_level", "s2"): acked}
    assert reader.get(a1[0].id) == a2[0]  # updated in place, cleared
    assert reader.get("no-such-alarm") is None
    assert [a.id for a in reader.alarms()] == [acked.id, a3[0].id, a2[0].id]  # newest change first
    assert [a.id for a in reader.alarms(limit=2)] == [acked.id, a3[0].id]
    assert [a.id for a in reader.alarms(active=False)] == [a2[0].id]
    assert [a.id for a in reader.alarms(active=True, area="46")] == [acked.id]
    assert reader.alarms(rule="heavy_rain") == []
    assert len(reader.alarms(rule="flood_level", active=True)) == 2
    assert reader.undispatched() == []  # an acknowledgement is not notified


def test_rule_state_comes_back_exactly_and_is_updated_per_key(open_store: OpenStore) -> None:
    store = open_store()
    window = {"2026-11-22T03:10:00+00:00": 2.5, "2026-11-22T03:00:00+00:00": 0.1, "b": None, "a": [1, "x"]}
    store.commit([], {"rain:g1": window, "fire:P": 1234.5, "odd": {"nan": math.inf}}, set())
    store.commit([], {"fire:P": 1300.0}, set())  # only the changed key
    state = open_store().rule_state()
    assert state["rain:g1"] == window
    assert list(state["rain:g1"]) == list(window)  # key order kept: rolling windows are read in order
    assert state["fire:P"] == 1300.0 and state["odd"] == {"nan": math.inf}
    assert set(state) == {"rain:g1", "fire:P", "odd"}
    # Only the keys asked for (a view after one entry), a missing key left out.
    assert open_store().rule_state("fire:P", "missing") == {"fire:P": 1300.0}


def test_pending_lines_are_kept_until_stored(open_store: OpenStore) -> None:
    store = open_store()
    assert store.pending_lines() == (0, [])
    store.commit([], {}, set(), ["alarm a=1 1", "alarm a=2 2"])
    up_to, lines = store.pending_lines()
    assert lines == ["alarm a=1 1", "alarm a=2 2"] and up_to > 0
    store.commit([], {}, set(), ["alarm a=3 3"])  # written while the first two were on their way to InfluxDB
    store.lines_stored(up_to)
    up_to2, lines = open_store().pending_lines()
    assert lines == ["alarm a=3 3"] and up_to2 > up_to
    store.lines_stored(up_to2)
    assert store.pending_lines()[1] == []


def test_a_failed_commit_writes_nothing_and_the_store_goes_on(open_store: OpenStore) -> None:
    store = open_store()
    first = change(None, "s1", 0)
    store.commit([first], {"k": 1}, set(NOTIFY_ON), ["line 1"])
    dispatched = [i for i, _, _ in store.undispatched()]
    store.mark_dispatched(dispatched)
    # A second active alarm for the same rule and subject: the database refuses it, and with it the whole commit.
    rogue = change(None, "s1", 1)
    other = change(None, "s2", 1)
    with pytest.raises(Exception, match=r"(?i)unique"):
        store.commit([other, rogue], {"k": 2, "k2": 3}, set(NOTIFY_ON), ["line 2"])
    reader = open_store()
    assert reader.active_alarms() == {first[0].key: first[0]}
    assert reader.rule_state() == {"k": 1}
    assert reader.pending_lines()[1] == ["line 1"]
    assert reader.undispatched() == []
    # The same store commits again afterwards.
    assert [t for _, _, t in store.commit([other], {"k": 2}, set(NOTIFY_ON))] == [Transition.CREATED]
    assert set(reader.active_alarms()) == {first[0].key, other[0].key}
