"""Pydantic models of every MQTT payload: the one source of truth for the contract (docs/contract.md).

Every message a node sends carries the node id, a per-node sequence number that only grows (kept across
restarts, so the hub can drop replays) and the device's UTC timestamp.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from wire.quantities import CANONICAL_UNITS, Quantity
from wire.topics import Channel

CONTRACT_VERSION: Final = 1
MAX_READINGS_PER_MESSAGE = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

IDENTIFIER_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
# A status figure's name becomes an InfluxDB field key: a closed alphabet keeps line protocol unambiguous (a key
# ending in a backslash would escape the '=' after it), and a cap keeps one node from growing the measurement.
ExtraKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
MAX_STATUS_EXTRA = 256
Seq = Annotated[int, Field(ge=1, le=2**63 - 1, description="Per-node sequence number; only grows")]


def to_epoch_ms(ts: datetime) -> int:
    """Exact integer milliseconds since the epoch (floor), for an aware datetime whose offset is whole seconds.

    The hub calls this for every reading. ``ts.timestamp()`` runs in C but is a float, which can land a hair
    either side of a millisecond; the millisecond digits are known exactly from ``ts.microsecond`` (offsets are
    whole seconds), so the float result is snapped to them: exact, and several times faster than timedelta maths.
    """
    ms = int(ts.timestamp() * 1000)
    off_by = (ts.microsecond // 1000 - ms) % 1000
    if off_by:
        ms += off_by if off_by < 500 else off_by - 1000
    return ms


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Quality(StrEnum):
    GOOD = "good"
    SUSPECT = "suspect"
    BAD = "bad"


class Reading(_Strict):
    """One observation of one sensor."""

    sensor_id: Identifier
    quantity: Quantity
    value: float = Field(description="Finite number in the quantity's canonical unit")
    unit: str = Field(description="Must equal the canonical unit of the quantity (docs/contract.md)")
    quality: Quality = Quality.GOOD
    ts: AwareDatetime | None = Field(None, description="Sampling time (UTC); defaults to the message's ts")

    @model_validator(mode="after")
    def _unit_matches(self) -> Reading:
        expected = CANONICAL_UNITS[self.quantity]
        if self.unit != expected:
            raise ValueError(f"unit {self.unit!r} is wrong for {self.quantity.value}: send {expected!r}")
        return self


class _NodeMessage(_Strict):
    v: Literal[1] = Field(CONTRACT_VERSION, description="Contract version")
    node_id: Identifier
    seq: Seq
    ts: AwareDatetime = Field(description="Device clock, UTC, when the message was made")

    @field_validator("v", mode="before")
    @classmethod
    def _not_a_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # true == 1 to Python, so a Literal[1] would take it
            raise ValueError("v must be the number 1, not a boolean")
        return v

    @field_validator("ts")
    @classmethod
    def _plausible(cls, ts: datetime) -> datetime:
        if ts.year < 2000 or ts.year > 2200:
            raise ValueError("timestamp outside 2000-2200: device clock not set")
        return ts


class TelemetryMessage(_NodeMessage):
    """Topic ``<prefix>/v1/<node_id>/telemetry``; QoS 1, not retained."""

    channel: Literal["telemetry"] = "telemetry"
    readings: list[Reading] = Field(min_length=1, max_length=MAX_READINGS_PER_MESSAGE)


class NodeState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"


class StatusMessage(_NodeMessage):
    """Topic ``<prefix>/v1/<node_id>/status``; QoS 1, retained. The MQTT last will sets ``offline``."""

    channel: Literal["status"] = "status"
    state: NodeState
    uptime_s: float | None = Field(None, ge=0)
    disk_free_bytes: int | None = Field(None, ge=0)
    outbox_depth: int | None = Field(None, ge=0)
    outbox_dropped: int | None = Field(None, ge=0, description="Messages dropped by the outbox's when-full policy")
    last_error: str | None = Field(None, max_length=2000)
    software: str | None = Field(None, max_length=64)
    config_version: str | None = Field(None, max_length=64, description="Version of the remote configuration applied")
    config_error: str | None = Field(
        None, max_length=2000, description="Why the last remote configuration was refused (the node kept the old one)"
    )
    models: dict[str, str] = Field(
        default_factory=dict, description="Models the hub manages on this node: name -> version in use"
    )
    extra: dict[ExtraKey, float] = Field(
        default_factory=dict,
        max_length=MAX_STATUS_EXTRA,
        description="Other numeric health figures (cam.<camera>.fps, alarm.<sensor>...); names of letters, digits, "
        f"'_', '.', '-' only, at most {MAX_STATUS_EXTRA}",
    )


class EventPhase(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"


class EventMessage(_NodeMessage):
    """Topic ``<prefix>/v1/<node_id>/event``; QoS 1. A confirmed camera detection's life cycle."""

    channel: Literal["event"] = "event"
    event_id: Identifier
    phase: EventPhase
    camera: Identifier
    label: Identifier
    score: float = Field(ge=0, le=1)
    top_score: float = Field(ge=0, le=1)
    box: tuple[float, float, float, float] = Field(description="ymin, xmin, ymax, xmax, normalised 0-1")
    zones: list[Identifier] = Field(default_factory=list)
    start: AwareDatetime
    end: AwareDatetime | None = None
    snapshot: str | None = Field(None, description="Topic of the JPEG snapshot, if one was sent")


class ConfigMessage(_Strict):
    """Topic ``<prefix>/v1/<node_id>/config``; hub to node, QoS 1, retained: the desired configuration."""

    v: Literal[1] = CONTRACT_VERSION
    node_id: Identifier
    ts: AwareDatetime
    version: str = Field(min_length=1, max_length=64)
    config: dict[str, Any]


class AckMessage(_Strict):
    """Topic ``<prefix>/v1/<node_id>/ack``; hub to node, QoS 1.

    Sequence ranges (inclusive) the hub has made durable. A node in end-to-end mode keeps a message in its
    outbox until it is covered here, so that a broker crash between PUBACK and delivery loses nothing.
    """

    v: Literal[1] = CONTRACT_VERSION
    node_id: Identifier
    ts: AwareDatetime
    ranges: list[tuple[Seq, Seq]] = Field(min_length=1, max_length=10_000)


NODE_MESSAGES: dict[Channel, type[_NodeMessage]] = {
    Channel.TELEMETRY: TelemetryMessage,
    Channel.STATUS: StatusMessage,
    Channel.EVENT: EventMessage,
}


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"key {dup!r} appears twice in one object: which value was meant is unknown")
    return obj


_DUPLICATE_CHECKER = json.JSONDecoder(object_pairs_hook=_refuse_duplicate_keys)  # built once: this runs per message


def check_duplicate_keys(payload: bytes | str) -> None:
    """Raise ValueError when a JSON object in ``payload`` repeats a key.

    JSON parsers keep the last of repeated keys without a word, so ``{"node_id": "a", ..., "node_id": "b"}`` would be
    read as node b by one program and node a by another; the contract refuses such a payload outright.
    """
    try:
        _DUPLICATE_CHECKER.decode(payload.decode() if isinstance(payload, bytes) else payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return  # not JSON at all: the model's own parser says where


# The end of a JSON key: its closing quote, then the colon (JSON allows whitespace between).
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


def keys_once_each(msg: TelemetryMessage, payload: bytes) -> bool:
    """True when no object of the telemetry ``payload`` the model accepted can repeat a key; False: not known.

    The parser keeps the last of repeated keys, so a payload with one has more keys than the message has fields
    set. Without a backslash no JSON string holds a quote, so every quote followed by a colon ends a key: when
    their number equals the fields the message and its readings were given (a telemetry message has no other
    objects and no extra keys), every key stands once. With a backslash (an escaped quote, a key spelled with
    ``\\u`` escapes) this says nothing and the full check decides. The full check parses the payload a second
    time in Python; this counts in C, which matters on the hub's hottest path.
    """
    if b"\\" in payload:
        return False
    expected = len(msg.model_fields_set) + sum(len(r.model_fields_set) for r in msg.readings)
    return len(_KEY_END.findall(payload)) == expected


def parse_message(channel: Channel, payload: bytes | str) -> _NodeMessage:
    """Validate a node's payload for the channel it arrived on; raises ValidationError or ValueError.

    Strict: a JSON value of the wrong type is refused, never converted (``"9.87"`` or ``true`` for a number, ``20.0``
    or ``"19"`` for a sequence number), and so is an object with a key given twice.
    """
    model = NODE_MESSAGES.get(channel)
    if model is None:
        raise ValueError(f"nodes do not publish on channel {channel.value!r}")
    msg = model.model_validate_json(payload, strict=True)
    if not (isinstance(msg, TelemetryMessage) and isinstance(payload, bytes) and keys_once_each(msg, payload)):
        check_duplicate_keys(payload)
    return msg


def describe_error(exc: Exception) -> str:
    """One line naming the field and the reason, for dead letters and logs."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "payload"
            parts.append(f"{where}: {err['msg']}")
        more = exc.error_count() - 5
        if more > 0:
            parts.append(f"(+{more} more)")
        return "; ".join(parts)
    return str(exc)
