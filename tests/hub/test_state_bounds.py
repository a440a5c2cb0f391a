"""What the hub keeps on disk stays bounded and private."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from hub.store.state import DeadLetter, HubState
from plumbing.sqlite import open_db


def _persist(state: HubState, letters: list[DeadLetter]) -> None:
    state.persist(dead_letters=letters, seen={}, statuses={}, sensor_values={}, dedupe={})


def test_dead_letters_are_pruned_by_age_then_by_size_oldest_first(tmp_path: Path) -> None:
    state = HubState(tmp_path / "hub.db")
    now = time.time()
    old = [DeadLetter("t/old", "bad", b"x" * 100, now - 40 * 86400) for _ in range(5)]
    new = [DeadLetter("t/new", f"bad {i}", b"y" * 64 * 1024, now - 100 + i) for i in range(20)]
    _persist(state, old + new)
    assert state.dead_letter_count() == 25
    # 30 days, and about five of the 64 KiB letters
    pruned = state.prune_dead_letters(30 * 86400, 5 * (64 * 1024 + 10), now)
    assert pruned == 5 + 15
    kept = state.dead_letters(limit=100)
    assert [r["reason"] for r in kept] == [f"bad {i}" for i in range(19, 14, -1)]  # the newest five
    assert state.prune_dead_letters(30 * 86400, 5 * (64 * 1024 + 10), now) == 0
    state.close()


def test_sqlite_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "hub.db"
    db = open_db(path)
    db.conn.execute("CREATE TABLE t (x)")
    for f in (path, path.with_name("hub.db-wal"), path.with_name("hub.db-shm")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    db.conn.close()
    loose = tmp_path / "old.db"
    loose.touch(mode=0o644)
    loose.chmod(0o644)
    open_db(loose).conn.close()
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600  # a file an older version left readable is tightened


def test_an_in_memory_database_makes_no_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    db = open_db(":memory:")
    db.conn.execute("CREATE TABLE t (x)")
    assert list(tmp_path.iterdir()) == []


def test_a_sensor_first_met_in_telemetry_is_not_taken_for_a_configured_one(tmp_path: Path) -> None:
    """A seeded node without sensors reports one: after a restart the registry must not hand quality control a
    sensor without an interval (it crashed the hub's start: float(None))."""
    from hub.quality.checker import intervals_from_nodes
    from hub.store.state import NodeInfo

    state = HubState(tmp_path / "hub.db")
    state.register([NodeInfo("river-1", "Trạm 1", "00004", None, None, (("rain", "rainfall", 300.0),))])
    state.persist(dead_letters=[], seen={"river-1": 1.0}, statuses={}, sensor_values={("river-1", "stage"): (1.0, 2.0)},
                  dedupe={})  # fmt: skip
    nodes = state.known_nodes()
    assert nodes["river-1"].sensors == (("rain", "rainfall", 300.0),)
    assert intervals_from_nodes(nodes.values()) == {("river-1", "rain"): 300.0}
    state.close()
