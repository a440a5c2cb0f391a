"""The hub config schema (YAML)."""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.config import AlertsConfig
from hub.alerts.notify.config import NotifyConfig
from hub.api.auth import ApiSettings
from hub.api.console_settings import ConsoleSettings
from hub.secret import Secret
from hub.warn.config import WarningsConfig
from plumbing.configfile import load_yaml_model
from wire.nodeconfig import TlsSettings

log = logging.getLogger(__name__)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubMqtt(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = "iocgw"
    client_id: str = Field("iocgw-hub-1", description="Fixed, so the broker keeps this hub's session while it is away")
    shared_group: str | None = Field(None, description="MQTT v5 shared-subscription group, to split load over hubs")
    session_expiry_s: int = Field(
        7 * 86_400,
        ge=0,
        description="How long the broker keeps this hub's session, and queues for it, while it is away. Unset: 7 days "
        "for a hub on its own (the broker holds its messages while it restarts); 0 with shared_group, because the "
        "broker goes on handing a dead member's session its share of new messages for as long as the session lives, "
        "while the nodes' outboxes keep what no hub has confirmed and resend it (docs/scaling.md)",
    )
    receive_maximum: int = Field(
        4000, ge=10, le=65_535, description="Unacknowledged messages the broker may have in flight to this hub"
    )
    keepalive_s: int = Field(30, ge=5)
    username: str | None = None
    password: Secret | None = None
    tls: TlsSettings | None = Field(
        None, description="TLS with a client certificate (iocgw provision hub; docs/security.md); unset: plain TCP"
    )

    # A shared-group member's session outliving this long keeps taking new messages after a crash past the nodes'
    # default confirm timeout (wire/nodeconfig OutboxSettings.confirm_timeout_s), so their resends land there again.
    LONG_SHARED_SESSION_S: ClassVar[int] = 60

    @model_validator(mode="after")
    def _short_session_in_a_shared_group(self) -> HubMqtt:
        """A hub in a shared group defaults to session expiry 0; a long one set explicitly is kept, with a warning."""
        if not self.shared_group:
            return self
        if "session_expiry_s" not in self.model_fields_set:
            self.session_expiry_s = 0
        elif self.session_expiry_s > self.LONG_SHARED_SESSION_S:
            log.warning(
                "mqtt.session_expiry_s is %d s with shared_group %r: after a crash the broker goes on handing this "
                "hub's session its share of new messages for that long, and they wait for the nodes' resends "
                "(docs/scaling.md); leave it unset (0) unless the nodes use confirm: broker",
                self.session_expiry_s,
                self.shared_group,
            )
        return self


class InfluxApi(StrEnum):
    V1 = "v1"
    V2 = "v2"
    V3 = "v3"


class HubInflux(_Section):
    url: str = "http://127.0.0.1:8086"
    api: InfluxApi = Field(InfluxApi.V1, description="v1 /write (InfluxDB 1.x, 2.x via DBRP, 3.x); v2; v3 write_lp")
    database: str = Field("iocgw", description="v1 and v3 database")
    retention_policy: str | None = None
    org: str | None = Field(None, description="v2 organisation")
    bucket: str | None = Field(None, description="v2 bucket")
    token: Secret | None = None
    create_database: bool = Field(True, description="v1 only: CREATE DATABASE at start when missing")
    timeout_s: float = Field(10.0, gt=0)
    gzip: bool = True

    @model_validator(mode="after")
    def _v2_needs(self) -> HubInflux:
        if self.api is InfluxApi.V2 and not (self.org and self.bucket):
            raise ValueError("api v2 needs org and bucket")
        return self


class HubBatch(_Section):
    max_lines: int = Field(5000, ge=1, le=100_000, description="Lines per InfluxDB write")
    max_delay_s: float = Field(0.25, gt=0, le=60, description="Longest a reading waits for its batch")
    queue_batches: int = Field(2, ge=1, le=64, description="Batches waiting for the writer before ingest pauses")
    retry_budget_s: float = Field(5.0, ge=0, description="Retrying one batch this long before spooling it")
    max_spool_mb: float = Field(
        1024.0,
        gt=0,
        description="The spool (batches kept while InfluxDB is down) stays under this many MiB. When it is full the "
        "hub stops acknowledging: the broker keeps the messages for it and the nodes keep theirs in their outboxes, "
        "so a long outage fills the nodes' disks, not the hub's, and loses nothing while they have room",
    )


class HubRegistry(_Section):
    seed_files: list[str] = Field(default_factory=list, description="Globs of node config files to register")
    accept_unknown_nodes: bool = Field(
        False, description="If false, messages from unregistered nodes are dead-lettered"
    )
    offline_after_s: float = Field(300.0, gt=0, description="A node silent this long is shown offline")


class HubDeadLetters(_Section):
    """How much bad input the hub keeps to look at: every dead letter is counted, the oldest go first."""

    max_age_days: float = Field(30.0, gt=0, description="Dead letters older than this are deleted")
    max_mb: float = Field(
        256.0, gt=0, description="The dead letters' kept payloads and reasons together stay under this many MiB"
    )


class HubHttp(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class HubQuality(_Section):
    """Quality control of every reading at the hub (docs/quality.md)."""

    enabled: bool = Field(True, description="Check readings; off: stored with the node's flag only")
    file: Path | None = Field(
        None,
        description="Checks per quantity and station (YAML, like hub/quality/sample_quality.yaml); unset: "
        "the built-in defaults per quantity",
    )


class HubConfig(_Section):
    """The hub's settings; ``alerts`` switches the alert engine on (see docs/alert-rules.md)."""

    data_dir: Path = Field(Path("hub-data"), description="hub.db (registry, dead letters, spool, dedupe state)")
    max_payload_bytes: int = Field(256 * 1024, ge=1024)
    max_reading_age_days: float = Field(
        400.0,
        gt=0,
        le=3660,
        description="Readings and messages stamped longer ago than this are refused (docs/contract.md, data-time "
        "policy): enough for a node's outbox to deliver a long outage, not enough for an unset clock",
    )
    mqtt: HubMqtt = HubMqtt()
    influx: HubInflux = HubInflux()
    batch: HubBatch = HubBatch()
    registry: HubRegistry = HubRegistry()
    dead_letters: HubDeadLetters = HubDeadLetters()
    http: HubHttp = HubHttp()
    quality: HubQuality = HubQuality()
    alerts: AlertsConfig | None = Field(None, description="Alert rules and the sensors that feed them")
    notify: NotifyConfig | None = Field(None, description="Where alerts go (docs/notifications.md)")
    warnings: WarningsConfig | None = Field(
        None,
        description="Public warnings: recipients, channels (SMS, Zalo, Telegram, sirens), policies (docs/warnings.md)",
    )
    api: ApiSettings | None = Field(
        None, description="Operator API tokens and roles (docs/api.md); unset: every protected /api route answers 503"
    )
    console: ConsoleSettings = Field(
        ConsoleSettings(), description="The operator page: sign-in, map tiles, live cameras (docs/console.md)"
    )
    models_dir: Path | None = Field(
        None, description="Model files served to nodes at /models/<name>/<version>/<file> (docs/remote-config.md)"
    )

    @model_validator(mode="after")
    def _one_quality_file(self) -> HubConfig:
        """``quality.file`` is the one setting: the alert engine's data_quality rule reads the same file."""
        alerts, file = self.alerts, self.quality.file
        if alerts is None or file is None or alerts.quality == file:
            return self
        if alerts.quality is not None:
            raise ValueError(
                f"alerts.quality ({alerts.quality}) and quality.file ({file}) name different files: set quality.file "
                "only (ingest checks and the data_quality alarm read one file)"
            )
        return self.model_copy(update={"alerts": alerts.model_copy(update={"quality": file})})


def load_hub_config(path: Path | str) -> HubConfig:
    return load_yaml_model(path, HubConfig)
