"""Actuator commands (hub to node) and their acknowledgements (node to hub): sirens, relays and loudspeakers.

Topics ``<prefix>/v1/<node_id>/actuate`` and ``<prefix>/v1/<node_id>/actuate_ack`` (docs/contract.md). The broker's
ACL lets only hubs publish a command; the HMAC below is what still stops a command nobody at the hub issued (a
stolen hub-side broker credential, a misconfigured ACL, a replayed capture): the node executes only a command signed
with its own key, before its expiry, and only once per ``command_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from wire.messages import CONTRACT_VERSION, Identifier

CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
# A bare file name: no '/', no leading '.', so it cannot leave the node's audio directory.
AudioName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
SIGNATURE_PATTERN = r"^[0-9a-f]{64}$"

MAX_SIREN_S = 3600.0
MAX_TEST_S = 30.0
MAX_VALIDITY = timedelta(hours=1)  # expires - issued: bounds how long a node must remember a command id
CLOCK_SKEW = timedelta(minutes=5)  # as the data-time policy allows a node's clock ahead of the hub's
MIN_KEY_BYTES = 16


class Action(StrEnum):
    SIREN_ON = "siren_on"  # the public output on for duration_s, then off by itself
    SIREN_OFF = "siren_off"
    TEST = "test"  # the actuator's test output (muted relay, quiet tone): never the public siren
    PLAY = "play"  # a stored audio file by name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class ActuateCommand(_Strict):
    """Topic ``<prefix>/v1/<node_id>/actuate``; hub to node, QoS 1, not retained (a retained siren command would
    sound again for every reconnect until its expiry)."""

    v: Literal[1] = CONTRACT_VERSION
    node_id: Identifier = Field(description="The node addressed; part of the signed text, so it cannot be moved")
    command_id: CommandId = Field(description="Idempotency key: a node executes one id at most once")
    actuator: Identifier = Field(description="Actuator id in the node's config (actuators[].id)")
    action: Action
    duration_s: float | None = Field(
        None, gt=0, le=MAX_SIREN_S, description=f"siren_on: seconds on (required); test: at most {MAX_TEST_S:g}"
    )
    file: AudioName | None = Field(None, description="play: the audio file's name in the node's audio directory")
    issued: AwareDatetime = Field(description="Hub clock when signed")
    expires: AwareDatetime = Field(description="After this the node refuses the command instead of running it late")
    sig: str = Field(pattern=SIGNATURE_PATTERN, description="HMAC-SHA256 of canonical_bytes() with the node's key, hex")

    @field_validator("v", mode="before")
    @classmethod
    def _not_a_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("v must be the number 1, not a boolean")
        return v

    @model_validator(mode="after")
    def _shape(self) -> ActuateCommand:
        if self.action is Action.SIREN_ON and self.duration_s is None:
            raise ValueError("siren_on needs duration_s: a siren never stays on without an end")
        if self.action is Action.TEST and self.duration_s is not None and self.duration_s > MAX_TEST_S:
            raise ValueError(f"a test lasts at most {MAX_TEST_S:g} s")
        if self.action in (Action.SIREN_OFF, Action.PLAY) and self.duration_s is not None:
            raise ValueError(f"{self.action.value} takes no duration_s")
        if (self.action is Action.PLAY) != (self.file is not None):
            raise ValueError("file is given with play and only with play")
        if not self.issued < self.expires <= self.issued + MAX_VALIDITY:
            raise ValueError(f"expires must be after issued and at most {MAX_VALIDITY} later")
        return self


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: ActuateCommand | dict[str, Any]) -> bytes:
    """The signed text: every field but ``sig``, times in UTC with microseconds, JSON with sorted keys and no spaces.

    Built from the parsed values, not the bytes received, so ``Z`` against ``+00:00`` or key order cannot change
    what is verified, and a value the model would read differently than the signer meant fails the check.
    """
    data = fields.model_dump(exclude={"sig"}) if isinstance(fields, ActuateCommand) else dict(fields)
    data.pop("sig", None)
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            out[key] = _utc(value)
        elif isinstance(value, StrEnum):
            out[key] = value.value
        else:
            out[key] = value
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode()


def sign(key: bytes, fields: dict[str, Any]) -> ActuateCommand:
    """The command with its signature; ``fields`` holds every field but ``sig``."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"an actuation key has at least {MIN_KEY_BYTES} bytes")
    unsigned = ActuateCommand.model_validate({**fields, "sig": "0" * 64})
    digest = hmac.new(key, canonical_bytes(unsigned), hashlib.sha256).hexdigest()
    return unsigned.model_copy(update={"sig": digest})


def signature_ok(key: bytes, command: ActuateCommand) -> bool:
    expected = hmac.new(key, canonical_bytes(command), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, command.sig)


def read_key(text: str | bytes) -> bytes:
    """An actuation key file's content: hex (as `iocgw provision actuation-key` writes it), whitespace ignored."""
    raw = text.decode() if isinstance(text, bytes) else text
    try:
        key = bytes.fromhex("".join(raw.split()))
    except ValueError:
        raise ValueError("an actuation key file holds hex digits only") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"an actuation key has at least {MIN_KEY_BYTES} bytes (got {len(key)})")
    return key


class Outcome(StrEnum):
    EXECUTED = "executed"
    REFUSED = "refused"  # never acted on: see the reason
    FAILED = "failed"  # accepted, but the actuator could not do it


class RefusalCode(StrEnum):
    MALFORMED = "malformed"  # not a valid command (no signature at all lands here too)
    WRONG_NODE = "wrong_node"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"  # issued further ahead of the node's clock than the clock skew allows
    EXPIRED = "expired"
    REPLAYED = "replayed"  # the id was seen before; ``first_outcome`` says what happened then
    UNKNOWN_ACTUATOR = "unknown_actuator"
    UNSUPPORTED = "unsupported"  # the actuator cannot do this action (a relay asked to play a file)
    NO_KEY = "no_key"  # the node has no actuation key configured


class ActuateAck(_Strict):
    """Topic ``<prefix>/v1/<node_id>/actuate_ack``; node to hub, QoS 1, not retained.

    Sent directly, not through the outbox, and without a sequence number: it answers one command, the hub waits for
    it only for its own timeout, and the command id, not a sequence, is what makes it unique.
    """

    v: Literal[1] = CONTRACT_VERSION
    node_id: Identifier
    ts: AwareDatetime = Field(description="Node clock when the ack was made")
    command_id: str = Field(max_length=128, description="As received; empty when the command could not be read")
    actuator: str = Field("", max_length=64)
    outcome: Outcome
    code: RefusalCode | None = Field(None, description="Why, when refused")
    reason: str = Field("", max_length=2000)
    first_outcome: Outcome | None = Field(None, description="replayed: what the command's first arrival led to")
    received: AwareDatetime = Field(description="Node clock when the command arrived")
    done: AwareDatetime | None = Field(None, description="Node clock when the actuator finished (executed, failed)")
    until: AwareDatetime | None = Field(None, description="siren_on and test: when the output turns itself off")

    @model_validator(mode="after")
    def _coded(self) -> ActuateAck:
        if (self.outcome is Outcome.REFUSED) != (self.code is not None):
            raise ValueError("code is given with refused and only with refused")
        if (self.code is RefusalCode.REPLAYED) != (self.first_outcome is not None):
            raise ValueError("first_outcome is given with a replayed refusal and only then")
        return self
