"""Request and response bodies of the operator API; the OpenAPI document is generated from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.alerts.alarm import Alarm
from hub.alerts.rules.camera import CameraSeverityTable
from hub.alerts.rules.dam_safety import Reservoir, ReservoirTable
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from hub.alerts.rules.heavy_rain import RainBands
from hub.alerts.rules.nesterov import NesterovConfig
from hub.alerts.rules.risk_level import RiskTables
from hub.alerts.rules.severity import Severity
from hub.alerts.threshold_overrides import AuditEntry, ItemView, Override, ThresholdKind
from hub.api.auth import Role


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Body):
    """One reason a request or a file was refused."""

    field: str | None = Field(None, description="Dotted path of the field, e.g. station.bd1_m")
    reason: str
    line: int | None = Field(None, description="Line in the file, for rule files")


class ErrorBody(_Body):
    """Every error answer: a sentence for people, and the details for programs."""

    error: str
    file: str | None = Field(None, description="The rule file at fault (reload)")
    problems: list[Problem] = Field(default_factory=list)


# -- alerts ---------------------------------------------------------------------------------------------------
class AlertQuery(_Body):
    """Filters of GET /api/alerts; all optional."""

    active: bool | None = Field(None, description="true: active alarms only; false: cleared ones only")
    rule: str | None = Field(None, description="flood_level, heavy_rain, dam_safety, camera_fire, disaster_risk, ...")
    area: str | None = Field(None, description="GSO code prefix: '42' matches the province and its communes")
    severity: list[Severity] | None = Field(None, description="Comma-separated severities, e.g. major,critical")
    limit: int = Field(200, ge=1, le=1000, description="Newest first, at most this many")

    @field_validator("severity", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value


class Display(_Body):
    """How the operator page colours an alert."""

    fill: str = Field(description="Background colour, #RRGGBB")
    text: str = Field(description="Text colour on that background")
    label: str = Field(description="Short label, e.g. 'major' or 'Cấp 3 · da cam'")
    official: bool = Field(description="true: the QĐ 18/2021 risk-level colour; false: the hub's severity palette")


class AlertOut(Alarm):
    """An alarm as stored, with its display colour and the names of its area and subject."""

    display: Display
    area_name: str | None = Field(
        None, description="Name of the area's GSO unit, a commune with its province; null when the table lacks it"
    )
    subject_name: str | None = Field(
        None, description="Station or reservoir name from the rule tables, or the area's name for disaster_risk"
    )


class AlertList(_Body):
    count: int
    alerts: list[AlertOut]


class AckRequest(_Body):
    """Who acknowledges is the token's name, never a body field."""

    comment: str | None = Field(None, max_length=2000, description="What was done, e.g. 'đã báo UBND xã'")


class BulkAckRequest(_Body):
    """Acknowledge every active unacknowledged alarm of some rules in one area; who is the token's name."""

    rules: list[str] = Field(
        min_length=1, max_length=20, description="The rules of one hazard, e.g. ['flood_level', 'flood_forecast']"
    )
    area: str = Field(
        pattern=r"^[0-9]{2}([0-9]{3})?$", description="GSO code: a province ('42', with its communes) or a commune"
    )
    comment: str | None = Field(None, max_length=2000, description="What was done, recorded on each alarm")


# -- nodes ----------------------------------------------------------------------------------------------------
NodeHealth = Literal["ok", "degraded", "offline", "never_seen"]
NodeLink = Literal["online", "offline", "stopped", "silent", "never_seen"]


class NodeError(_Body):
    """One distinct error text a node reported in its status (last_error), with when the hub heard it."""

    error: str
    first_reported: float = Field(description="Unix time the hub first received a status with this error")
    last_reported: float = Field(description="Unix time of the latest status with this error")
    reports: int = Field(description="Statuses that carried it")
    current: bool = Field(False, description="The node's latest status still reports it")


class NodeBattery(_Body):
    """The latest reading of the node's battery / supply voltage sensor (quantity battery_voltage)."""

    sensor_id: str
    volts: float
    at: float = Field(description="Unix time of the reading (the node's clock)")


class NodeCamera(_Body):
    """A camera's figures from the node's status (extra cam.<camera>.*); null when the node did not send one."""

    camera: str
    fps: float | None = Field(None, description="Frames analysed per second")
    infer_ms: float | None = Field(None, description="Mean inference time per frame, milliseconds")
    connected: bool | None = Field(None, description="The stream is connected")
    reconnects: float | None = Field(None, description="Stream reconnections since the node started")
    errors: float | None = Field(None, description="Publishing errors since the node started")


class NodeOut(_Body):
    node_id: str
    name: str | None = None
    admin_code: str | None = None
    area_name: str | None = Field(None, description="Name of the node's GSO unit; null when the table lacks it")
    lat: float | None = None
    lon: float | None = None
    last_seen: float | None = Field(None, description="Unix time of the node's last message")
    last_seen_ago_s: float | None = Field(None, description="Seconds since last_seen by the hub's clock")
    state: str | None = Field(None, description="Last state the node reported: online, offline, stopped")
    last_status: dict[str, Any] | None = Field(None, description="The node's last status message")
    online: bool = Field(description="Heard from within registry.offline_after_s and not reported offline")
    health: NodeHealth
    link: NodeLink = Field(
        description="online; offline: the broker delivered its last will (connection lost); stopped: it said "
        "goodbye; silent: nothing heard for registry.offline_after_s; never_seen: no message yet",
    )
    problems: list[str] = Field(default_factory=list, description="Why the health is not ok")
    battery: NodeBattery | None = None
    cameras: list[NodeCamera] = Field(default_factory=list, description="From the last status, by camera id")
    latest_error: NodeError | None = Field(None, description="The error most recently reported, current or not")
    last_drop_at: float | None = Field(
        None, description="Unix time the hub saw the node's outbox_dropped count grow, the latest such time"
    )
    dropping: bool = Field(False, description="outbox_dropped grew within the last 24 hours")


class NodeList(_Body):
    nodes: list[NodeOut]


class NodeListQuery(_Body):
    brief: bool = Field(
        False,
        description="true: each last_status without its extra figures and models (the console's list, every few "
        "seconds: the cameras are in `cameras`, the rest in GET /api/nodes/{node_id})",
    )


class LimitQuery(_Body):
    limit: int = Field(100, ge=1, le=1000)


class DeadLetter(_Body):
    id: int
    received: float
    topic: str
    reason: str
    payload_size: int


class DeadLetterList(_Body):
    count: int = Field(description="Dead letters stored in all")
    items: list[DeadLetter]


class NodeDetail(NodeOut):
    """One node with its kept errors and its recent dead letters."""

    errors: list[NodeError] = Field(description="The last distinct errors reported, most recent first (at most 5)")
    dead_letters: list[DeadLetter] = Field(description="The newest messages on its topics the hub could not use")


# -- thresholds -----------------------------------------------------------------------------------------------
class ThresholdsOut(_Body):
    """Every rule table the engine runs, overrides applied."""

    flood: FloodStationTable | None
    reservoirs: ReservoirTable | None
    rain: RainBands
    nesterov: dict[str, NesterovConfig] = Field(description="Fire-danger settings by province")
    risk: RiskTables
    camera: CameraSeverityTable
    overrides: list[Override] = Field(description="Overrides made through the API (body null: reverted)")
    problems: list[str] = Field(description="Overrides that could not be applied, e.g. entry gone from the files")


class _Change(_Body):
    comment: str = Field(min_length=1, max_length=2000, description="Why: the audit trail keeps it")
    expected_version: int | None = Field(
        None, ge=0, description="The version you read; the change is refused (409) if someone changed it since"
    )


class FloodChange(_Change):
    station: FloodStation = Field(description="The whole station entry; station_id must match the path")


class ReservoirChange(_Change):
    reservoir: Reservoir = Field(description="The whole reservoir entry; reservoir_id must match the path")


class RevertRequest(_Change):
    """Drop the override; the rule file's entry applies again."""


class AuditQuery(_Body):
    kind: ThresholdKind | None = None
    item_id: str | None = None
    limit: int = Field(100, ge=1, le=1000)


class AuditList(_Body):
    entries: list[AuditEntry]


class ReloadRequest(_Body):
    comment: str | None = Field(None, max_length=2000)


class ReloadResult(_Body):
    reloaded: bool
    flood_stations: int
    reservoirs: int
    nesterov_provinces: int
    problems: list[str] = Field(description="Overrides that could not be applied after the reload")


Ability = Literal["read", "acknowledge", "change_thresholds", "reload", "configure_nodes"]


class Whoami(_Body):
    name: str
    role: Role
    may: list[Ability] = Field(description="What the role may do, for clients that show only what works")
    warnings: bool = Field(False, description="This hub sends public warnings: its /api/warnings routes answer")


__all__ = [
    "Ability",
    "AckRequest",
    "AlertList",
    "AlertOut",
    "AlertQuery",
    "AuditList",
    "AuditQuery",
    "BulkAckRequest",
    "DeadLetterList",
    "Display",
    "ErrorBody",
    "FloodChange",
    "ItemView",
    "LimitQuery",
    "NodeHealth",
    "NodeList",
    "Problem",
    "ReloadRequest",
    "ReloadResult",
    "ReservoirChange",
    "RevertRequest",
    "ThresholdsOut",
    "Whoami",
]
