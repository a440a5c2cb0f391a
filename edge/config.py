"""The node config schema (one YAML file per node, see firmware_configs/)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.drivers import driver_config_union
from iocgw.configfile import load_yaml_model
from wire import Quantity
from wire.messages import Identifier


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Site(_Section):
    name: str = Field("", description="Human name of the site, e.g. the station name")
    admin_code: str | None = Field(
        None, pattern=r"^\d{2}(\d{3})?(\d{5})?$", description="GSO administrative unit code (2, 5 or 10 digits)"
    )
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("iocgw", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    username: str | None = None
    password_file: Path | None = Field(None, description="File holding the password; never put it inline")
    window: int = Field(100, ge=1, le=1000, description="QoS 1 messages in flight to the broker at once")
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)


class WhenFull(StrEnum):
    DROP_OLDEST = "drop_oldest"
    REJECT_NEW = "reject_new"


class Confirm(StrEnum):
    HUB = "hub"
    BROKER = "broker"


class OutboxSettings(_Section):
    path: Path = Field(Path("outbox.db"), description="SQLite file; relative paths are under the node's data dir")
    max_messages: int = Field(500_000, ge=10)
    when_full: WhenFull = WhenFull.DROP_OLDEST
    confirm: Confirm = Field(
        Confirm.HUB,
        description="hub: keep each message until the hub says it is stored (survives a broker crash); "
        "broker: remove it on the broker's PUBACK",
    )
    confirm_timeout_s: float = Field(60.0, gt=0, description="Resend what the hub has not confirmed after this")
    max_unconfirmed: int = Field(20_000, ge=1, description="Messages sent but not yet confirmed, at most")
    drain_on_stop_s: float = Field(
        10.0, ge=0, description="On a clean stop, wait this long at most for the outbox to be confirmed"
    )
    synchronous: str = Field(
        "FULL", pattern="^(FULL|NORMAL)$", description="SQLite synchronous; FULL also survives a power cut"
    )


class SensorConfig(_Section):
    id: Identifier
    quantity: Quantity
    interval_s: float = Field(60.0, gt=0, le=86_400, description="Sampling interval")
    driver: driver_config_union()  # type: ignore[valid-type]


class NodeConfig(_Section):
    node_id: Identifier
    site: Site = Site()
    data_dir: Path = Field(Path("."), description="Where the outbox and other state live")
    heartbeat_s: float = Field(30.0, gt=0)
    max_readings_per_message: int = Field(50, ge=1, le=1000)
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    sensors: list[SensorConfig] = Field(default_factory=list)

    @field_validator("sensors")
    @classmethod
    def _unique_ids(cls, sensors: list[SensorConfig]) -> list[SensorConfig]:
        seen: set[str] = set()
        for s in sensors:
            if s.id in seen:
                raise ValueError(f"sensor id {s.id!r} appears twice")
            seen.add(s.id)
        return sensors

    @property
    def outbox_path(self) -> Path:
        """The outbox file; a relative ``outbox.path`` is under ``data_dir``."""
        return self.outbox.path if self.outbox.path.is_absolute() else self.data_dir / self.outbox.path


def load_node_config(path: Path | str) -> NodeConfig:
    """Read and validate a node config; raises iocgw.configfile.ConfigError."""
    return load_yaml_model(path, NodeConfig)
