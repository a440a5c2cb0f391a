"""What the API reads of the alert engine, on a single hub and in cluster mode alike.

On a single hub the engine in this process is the source (``LocalEngineView``). In cluster mode only the leader runs
an engine, and it may be on another hub: every hub's API reads the same things from PostgreSQL instead
(``ClusterEngineView``), where the leader commits them (docs/scaling.md, "Cluster mode").

Reads only: writes (acknowledgements, release plans) go through the engine itself, the leader's in cluster mode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hub.alerts.alarm import Alarm
from hub.alerts.config import AlertsConfig, RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.threshold_overrides import RuleManager
from hub.api.routes import ApiError

if TYPE_CHECKING:  # psycopg is loaded only in cluster mode
    from hub.alerts.pg_store import AlertStoreLike

T = TypeVar("T")
RELEASES_KEY = "dam:releases"  # the engine's rule state entry of announced spillway releases (AlertEngine.plan_release)


class EngineView(Protocol):
    """``tables`` and ``config`` are plain reads (call them on the event loop). ``active`` and ``releases`` may block
    (the engine's lock, a PostgreSQL query): call them in a worker thread."""

    @property
    def tables(self) -> RuleTables:
        """The rule tables in force, overrides applied."""
        ...

    @property
    def config(self) -> AlertsConfig:
        """The hub config's alerts section: rain gauges, fire areas, the official forecasts' age."""
        ...

    def active(self) -> list[Alarm]:
        """Every active alarm."""
        ...

    def releases(self) -> dict[str, dict[str, Any]]:
        """Reservoir id -> its announced spillway release, as AlertEngine.plan_release records it."""
        ...


class LocalEngineView:
    """A single hub: the engine of this process."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine

    @property
    def tables(self) -> RuleTables:
        return self.engine.tables

    @property
    def config(self) -> AlertsConfig:
        # Read on every use, not kept: a reload may give the engine new gauges or fire areas.
        return self.engine.config

    def active(self) -> list[Alarm]:
        return self.engine.active()

    def releases(self) -> dict[str, dict[str, Any]]:
        # No lock needed: plan_release replaces the dict whole, never changes it in place.
        plans: dict[str, dict[str, Any]] = self.engine.state.get(RELEASES_KEY, {})
        return plans


class ClusterEngineView:
    """Cluster mode, on every hub whether it leads or not: the rule tables from ``rules`` (the overrides every hub
    shares, hub.alerts.pg_threshold_store), the alarms and rule state the leader committed from ``store`` (the API's
    reader, PgAlertStore(reopen_reads=True): a read during a PostgreSQL restart raises StoreUnavailable)."""

    def __init__(self, config: AlertsConfig, rules: RuleManager, store: AlertStoreLike) -> None:
        self._config = config
        self.rules = rules
        self.store = store

    @property
    def tables(self) -> RuleTables:
        return self.rules.current

    @property
    def config(self) -> AlertsConfig:
        return self._config

    def active(self) -> list[Alarm]:
        # PostgreSQL returns rows in no set order; the oldest first, as an engine gathers them, keeps answers stable.
        return sorted(self.store.active_alarms().values(), key=lambda a: (a.started_at, a.id))

    def releases(self) -> dict[str, dict[str, Any]]:
        plans: dict[str, dict[str, Any]] = self.store.rule_state(RELEASES_KEY).get(RELEASES_KEY, {})
        return plans


async def read_view(fn: Callable[[], T]) -> T:
    """A blocking view read (``EngineView.active``, ``.releases``) in a worker thread, never on the API's store
    thread: the engine's lock may be held by the writer thread for a whole batch. Cluster mode: a PostgreSQL out of
    reach is a 503 that says so, as the alarm routes answer; never an empty answer that would look like no alarm or
    no announced release."""
    try:
        return await asyncio.to_thread(fn)
    except ConnectionError as exc:  # hub.alerts.pg_store.StoreUnavailable
        raise ApiError(503, f"the alert engine's state cannot be read now: {exc}") from None
