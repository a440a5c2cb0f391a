"""The node config schema (one YAML file per node, see firmware_configs/)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from plumbing.configfile import load_yaml_model
from wire import Quantity
from wire.messages import Identifier
from wire.nodeconfig.actuators import ActuatorConfig, AnyActuatorConfig
from wire.nodeconfig.camera import CameraConfig
from wire.nodeconfig.drivers import AnyDriverConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteKind(StrEnum):
    RIVER_STATION = "river_station"
    RAIN_GAUGE = "rain_gauge"
    RESERVOIR = "reservoir"
    ENVIRONMENT = "environment"
    FOREST_CAMERA = "forest_camera"
    URBAN_CAMERA = "urban_camera"
    OTHER = "other"


# Since the 2025 reorganisation (no district level) a GSO code is a province's 2 digits or a commune's 5, the only
# lengths the hub's unit reference resolves (hub/feeds/units.py); it rejects 3-digit district codes too.
ADMIN_CODE_PATTERN = r"^(\d{2}|\d{5})$"


def check_admin_code(code: Any) -> Any:
    """A clear refusal of what is not a current GSO code; pydantic's own would only quote the pattern."""
    if isinstance(code, int) and not isinstance(code, bool):
        raise ValueError(
            f"write the code in quotes: unquoted, YAML reads it as the number {code}, losing leading zeros"
        )
    if not isinstance(code, str) or re.fullmatch(ADMIN_CODE_PATTERN, code):
        return code
    if re.fullmatch(r"\d{3}", code):
        raise ValueError(
            f"{code} is a district code: the district level was abolished on 2025-07-01; "
            "give the province (2 digits) or commune (5 digits) code"
        )
    got = f"{len(code)} digits" if code.isdigit() else "not only digits"
    raise ValueError(f"{code!r} is not a GSO code: a province has 2 digits, a commune 5 (got {got})")


class Site(_Section):
    name: str = Field("", description="Human name of the site, e.g. the station name")
    kind: SiteKind = Field(SiteKind.OTHER, description="What the node is, for maps and the fleet view")
    admin_code: str | None = Field(
        None,
        pattern=ADMIN_CODE_PATTERN,
        description="GSO code of the administrative unit: 2 digits (province) or 5 (commune)",
    )
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)

    @field_validator("admin_code", mode="before")
    @classmethod
    def _gso_code(cls, code: Any) -> Any:
        return check_admin_code(code)


class TlsSettings(_Section):
    """TLS to the broker: paths only, never inline keys. The broker's name is always checked against its
    certificate (no 'insecure' switch), so ``host`` must be a name or IP the server certificate lists."""

    ca_file: Path = Field(description="CA certificate that signed the broker's certificate (iocgw provision ca)")
    cert_file: Path | None = Field(None, description="This client's certificate; its CN is the broker identity")
    key_file: Path | None = Field(None, description="This client's private key (mode 0600)")

    @model_validator(mode="after")
    def _pair(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        return self

    def tls_set_kwargs(self) -> dict[str, Any]:
        """Arguments for paho's ``Client.tls_set`` (its defaults verify the broker's certificate and name)."""
        return {
            "ca_certs": str(self.ca_file),
            "certfile": str(self.cert_file) if self.cert_file else None,
            "keyfile": str(self.key_file) if self.key_file else None,
        }


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("iocgw", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    username: str | None = None
    password_file: Path | None = Field(None, description="File holding the password; never put it inline")
    tls: TlsSettings | None = Field(None, description="Connect with TLS (docs/security.md); unset: plain TCP")
    window: int = Field(100, ge=1, le=1000, description="QoS 1 messages in flight to the broker at once")
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    max_packet_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="The broker's max_packet_size (iocgw provision sets 2 MiB; an MQTT 5 broker that announces a "
        "smaller one wins). A message larger than this can never be delivered: it is set aside and counted, "
        "instead of being sent again after every disconnect",
    )


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


class ModelSource(_Section):
    """A model the hub wants the node to run (docs/remote-config.md); fetched into <data_dir>/models/<name>/."""

    name: Identifier = Field(description="Folder under <data_dir>/models; the manifest's name must match")
    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str = Field(description="URL of the manifest.yaml; the model's files are fetched next to it")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the manifest, which pins every file's")
    backends: list[str] = Field(
        default_factory=lambda: ["openvino"], min_length=1, description="Backends the self-test loads it in"
    )


class LocalAlarm(_Section):
    """A threshold the node watches itself, as hydrological loggers do: beyond it, sample faster.

    The hub's rule tables stay the authority for warnings; this only makes sure a rising river is measured densely
    even if the link is down and the hub cannot ask for it.
    """

    above: float | None = Field(None, description="Alarm while the value is at or above this")
    below: float | None = Field(None, description="Alarm while the value is at or below this")
    clear_margin: float = Field(0.0, ge=0, description="Hysteresis: the alarm clears this far back inside")
    fast_interval_s: float = Field(60.0, gt=0, le=86_400, description="Sampling interval while in alarm")
    label: str = Field("", max_length=64, description="A name for people, e.g. 'BĐ1'")

    @model_validator(mode="after")
    def _some_bound(self) -> LocalAlarm:
        if self.above is None and self.below is None:
            raise ValueError("give above, below or both")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError("below must be lower than above")
        return self

    def crossed(self, value: float, active: bool) -> bool:
        """Whether the alarm is on after ``value``, given whether it was on before (hysteresis)."""
        m = self.clear_margin if active else 0.0
        return (self.above is not None and value >= self.above - m) or (
            self.below is not None and value <= self.below + m
        )


class SensorConfig(_Section):
    id: Identifier
    quantity: Quantity
    interval_s: float = Field(60.0, gt=0, le=86_400, description="Sampling interval")
    driver: AnyDriverConfig
    alarm: LocalAlarm | None = Field(None, description="A local threshold that switches to fast sampling")

    @field_validator("alarm")
    @classmethod
    def _faster_in_alarm(cls, alarm: LocalAlarm | None, info: ValidationInfo) -> LocalAlarm | None:
        interval = info.data.get("interval_s")  # absent: interval_s itself failed, which says enough
        # Only a value someone wrote: the default (60 s) on a sensor already read faster just means "no change".
        if (
            alarm is not None
            and interval is not None
            and "fast_interval_s" in alarm.model_fields_set
            and alarm.fast_interval_s > interval
        ):
            raise ValueError(
                f"fast_interval_s ({alarm.fast_interval_s:g} s) is longer than the sensor's interval_s "
                f"({interval:g} s): in alarm the sensor would be read less often, not more"
            )
        return alarm


class ActuationSettings(_Section):
    """The node's actuators and the key that every command to them must be signed with."""

    key_file: Path = Field(
        description="The node's actuation key, hex (iocgw provision actuation-key; mode 0600). The hub holds the "
        "same key; a command not signed with it is refused"
    )
    state_file: Path = Field(
        Path("actuation.db"), description="Command ids already run (a relative path is under data_dir)"
    )
    actuators: list[AnyActuatorConfig] = Field(min_length=1)

    @field_validator("actuators")
    @classmethod
    def _unique(cls, actuators: list[ActuatorConfig]) -> list[ActuatorConfig]:
        ids = [a.id for a in actuators]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"actuator id {twice[0]!r} appears twice")
        return actuators


class NodeConfig(_Section):
    node_id: Identifier
    site: Site = Site()
    data_dir: Path = Field(Path("."), description="Where the outbox and other state live")
    heartbeat_s: float = Field(30.0, gt=0)
    max_readings_per_message: int = Field(50, ge=1, le=1000)
    mqtt: MqttSettings = MqttSettings()
    outbox: OutboxSettings = OutboxSettings()
    sensors: list[SensorConfig] = Field(default_factory=list)
    models: list[ModelSource] = Field(
        default_factory=list, description="Models to fetch from the hub, verify and keep current (remote config)"
    )
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras this node watches (docs/camera.md)")
    actuation: ActuationSettings | None = Field(
        None, description="Sirens, relays and loudspeakers the hub may drive with signed commands (docs/contract.md)"
    )

    @field_validator("sensors")
    @classmethod
    def _unique_ids(cls, sensors: list[SensorConfig]) -> list[SensorConfig]:
        seen: set[str] = set()
        for s in sensors:
            if s.id in seen:
                raise ValueError(f"sensor id {s.id!r} appears twice")
            seen.add(s.id)
        return sensors

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        ids = [c.id for c in cameras]
        for cid in ids:
            if ids.count(cid) > 1:
                raise ValueError(f"camera id {cid!r} appears twice")
        return cameras

    @property
    def actuation_state_path(self) -> Path | None:
        """The file of command ids already run; a relative ``actuation.state_file`` is under ``data_dir``."""
        if self.actuation is None:
            return None
        state = self.actuation.state_file
        return state if state.is_absolute() else self.data_dir / state

    @property
    def outbox_path(self) -> Path:
        """The outbox file; a relative ``outbox.path`` is under ``data_dir``."""
        return self.outbox.path if self.outbox.path.is_absolute() else self.data_dir / self.outbox.path


def load_node_config(path: Path | str) -> NodeConfig:
    """Read and validate a node config; raises plumbing.configfile.ConfigError."""
    return load_yaml_model(path, NodeConfig)


def validate_node_file(path: Path | str, template: bool = False) -> NodeConfig:
    """``iocgw edge validate``: the schema, and no template placeholder left in a node's own file; a template
    (``template=True``) may hold placeholders, each on a line marked ``# CHANGE``."""
    from wire.nodeconfig.placeholders import check_node_file, check_template

    return load_yaml_model(path, NodeConfig, checks=[check_template if template else check_node_file])


def node_config_schema() -> str:
    """The JSON Schema of a node config file, for editors (firmware_configs/node-config.schema.json)."""
    import json

    schema = NodeConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "iocgw node configuration"
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
