"""The actuator contract: topics, and the signed text pinned by a known answer, so that hub and node (deployed at
different times) can never drift apart on what is signed. The answer was computed independently with
``openssl dgst -sha256 -mac HMAC`` over the canonical text below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wire import Channel, Topics
from wire.actuate import ActuateCommand, canonical_bytes, sign, signature_ok

KEY = bytes(range(32))
T = datetime(2026, 11, 22, 3, 0, 0, 125000, tzinfo=UTC)
CANONICAL = (
    '{"action":"siren_on","actuator":"siren1","command_id":"w-1","duration_s":180.0,'
    '"expires":"2026-11-22T03:01:00.125000Z","file":null,"issued":"2026-11-22T03:00:00.125000Z",'
    '"node_id":"hue-phuvang-07","v":1}'
)
SIG = "cdf150d15eb80560d9d23e5df70c8aca4f5714bc17216b2c5bbeadb10bfa821e"


def test_actuator_topics_build_and_parse():
    t = Topics("iocgw")
    assert t.actuate("n1") == "iocgw/v1/n1/actuate"
    assert t.actuate_ack("n1") == "iocgw/v1/n1/actuate_ack"
    assert t.parse("iocgw/v1/n1/actuate").channel is Channel.ACTUATE
    assert t.parse("iocgw/v1/n1/actuate_ack").channel is Channel.ACTUATE_ACK
    assert t.all_of(Channel.ACTUATE_ACK) == "iocgw/v1/+/actuate_ack"


def test_the_signed_text_and_signature_are_pinned():
    fields = {
        "node_id": "hue-phuvang-07",
        "command_id": "w-1",
        "actuator": "siren1",
        "action": "siren_on",
        "duration_s": 180.0,
        "issued": T,
        "expires": T + timedelta(seconds=60),
    }
    cmd = sign(KEY, fields)
    assert canonical_bytes(cmd).decode() == CANONICAL
    assert cmd.sig == SIG
    # As received from the wire, written with another offset and key order: the same command.
    wire = (
        f'{{"sig":"{SIG}","v":1,"node_id":"hue-phuvang-07","command_id":"w-1","actuator":"siren1","action":"siren_on",'
        '"duration_s":180.0,"issued":"2026-11-22T10:00:00.125+07:00","expires":"2026-11-22T03:01:00.125Z"}'
    )
    assert signature_ok(KEY, ActuateCommand.model_validate_json(wire, strict=True))
