"""The alarm store's queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.alerts.alarm import Condition, apply_condition
from hub.alerts.store import AlertStore

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_the_area_filter_applies_before_the_limit(tmp_path: Path) -> None:
    """An area's alarms must not vanish because other areas' newer alarms filled the page first."""
    store = AlertStore(tmp_path / "alerts.db")
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
