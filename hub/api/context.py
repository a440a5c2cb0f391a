"""What the API's handlers reach in the running hub."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hub.alerts.engine import AlertEngine
from hub.alerts.store import AlertStore
from hub.alerts.thresholds import RuleManager
from hub.api.auth import ApiSettings
from hub.metrics import Metrics
from hub.node_config import NodeConfigs
from hub.store.state import HubState


class Health(Protocol):
    """The ingest pipeline as /healthz sees it."""

    def health(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class ApiContext:
    """``state`` and ``alerts`` are read-only connections of the API's own (the writer thread owns the others)."""

    pipeline: Health
    metrics: Metrics
    state: HubState
    offline_after_s: float
    engine: AlertEngine | None = None
    alerts: AlertStore | None = None
    rules: RuleManager | None = None
    auth: ApiSettings | None = None
    configs: NodeConfigs | None = None
    models_dir: Path | None = None
