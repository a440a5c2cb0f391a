"""What the API's handlers reach in the running hub."""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from hub.alerts.engine import AlertEngine
from hub.alerts.threshold_overrides import RuleManager
from hub.api.auth import ApiSettings
from hub.api.console_settings import ConsoleSettings
from hub.api.engine_view import EngineView, LocalEngineView
from hub.metrics import Metrics
from hub.remote_config import NodeConfigs
from hub.store.influx_query import InfluxReader
from hub.store.state import HubState

if TYPE_CHECKING:  # psycopg is loaded only in cluster mode
    from hub.alerts.pg_store import AlertStoreLike

T = TypeVar("T")


class Health(Protocol):
    """The ingest pipeline as /healthz sees it."""

    def health(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class ApiContext:
    """``state`` and ``alerts`` are read-only connections of the API's own (the writer thread owns the others).

    Handlers run on the event loop and never call a store there: ``await ctx.read(store.method, ...)`` runs the
    call on ``store_io`` (the hub gives one thread, so each read connection has one user at a time), or in a
    worker thread of ``asyncio.to_thread`` when there is none (tests that build the app alone).
    """

    pipeline: Health
    metrics: Metrics
    state: HubState
    offline_after_s: float
    engine: AlertEngine | None = None
    alerts: AlertStoreLike | None = None
    rules: RuleManager | None = None
    auth: ApiSettings | None = None
    configs: NodeConfigs | None = None
    models_dir: Path | None = None
    store_io: Executor | None = None
    warnings_enabled: bool = False  # a warnings section is configured (hub/warn): clients show its views
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    # A fresh reader of the hub's InfluxDB (blocking: call it and query in a worker thread); None: no stored series.
    influx: Callable[[], InfluxReader] | None = None
    session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # signs sign-in cookies
    # Cluster mode (alerts.cluster): the engine when this hub leads, else None; ``engine`` is None there.
    cluster_engine: Callable[[], AlertEngine | None] | None = None
    # What the views read of the engine: ``engine`` itself on a single hub (set from it when not given), the
    # alarms and rule state in PostgreSQL in cluster mode (hub.api.engine_view.ClusterEngineView); None: no alerts.
    view: EngineView | None = None

    def __post_init__(self) -> None:
        if self.view is None and self.engine is not None:
            object.__setattr__(self, "view", LocalEngineView(self.engine))  # frozen: set once, here

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` off the event loop, on the API's store thread."""
        if self.store_io is None:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.store_io, functools.partial(fn, *args, **kwargs))
