"""The siren channel end to end: hub channel -> Mosquitto (TLS, the ACL `iocgw provision mosquitto` generates) ->
the real node agent -> relay file -> ack -> Receipt. Forged, expired, replayed and wrongly routed commands never
actuate; test mode never touches the public siren. No hardware: the relay is gpio_relay on a temporary file."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from hub.provision.actuation import actuation_key_path, issue_actuation_key
from hub.warn.channels.base import ChannelError, Receipt
from hub.warn.channels.siren import SirenChannel, SirenConfig, command_id_for
from hub.warn.message import WarningMessage
from tests.provision.broker import HUB, FixturePki, ProvisionedMosquitto, make_pki
from tests.provision.peers import Peer
from tests.support.processes import AgentThread
from tests.support.wait import wait_until
from wire.actuate import ActuateAck, Outcome, RefusalCode, read_key, sign
from wire.nodeconfig import NodeConfig

pytestmark = pytest.mark.services


@dataclass
class Site:
    pki: FixturePki
    broker: ProvisionedMosquitto
    node: AgentThread
    siren: Path  # the public siren relay's file
    lamp: Path  # the test output's file

    @property
    def key_dir(self) -> Path:
        return actuation_key_path(self.pki.pki, "node-a").parent

    def key(self, node_id: str = "node-a") -> bytes:
        return read_key(actuation_key_path(self.pki.pki, node_id).read_text())

    def peer(self, who: Any) -> Peer:
        peer = Peer(self.broker.port, who, str(self.pki.pki.ca_cert), client_id=f"t-{uuid.uuid4().hex[:8]}")
        rc = peer.connect()
        assert not rc.is_failure, f"refused: {rc}"
        return peer

    def counters(self) -> dict[str, int]:
        return dict(self.node.call(lambda a: a.actuation.counters))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("siren")
    pki = make_pki(root)
    for node_id in ("node-a", "node-b"):
        issue_actuation_key(pki.pki, node_id)
    broker = ProvisionedMosquitto(root / "broker", pki)
    broker.start()
    p = pki.pki
    config = NodeConfig.model_validate(
        {
            "node_id": "node-a",
            "data_dir": str(root / "node-a"),
            "heartbeat_s": 3600,
            "mqtt": {
                "host": "localhost",
                "port": broker.port,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
                "tls": {
                    "ca_file": str(p.ca_cert),
                    "cert_file": str(p.node_cert("node-a")),
                    "key_file": str(p.node_key("node-a")),
                },
            },
            "actuation": {
                "key_file": str(actuation_key_path(p, "node-a")),
                "actuators": [
                    {"id": "siren1", "type": "gpio_relay", "path": str(root / "siren"), "test_path": str(root / "lamp")}
                ],
            },
        }
    )
    node = AgentThread(config).start()
    s = Site(pki, broker, node, root / "siren", root / "lamp")
    try:
        listening(s)
        yield s
    finally:
        node.stop()
        broker.kill()


def ack_of(peer: Peer, command_id: str) -> ActuateAck:
    def find() -> ActuateAck | None:
        for topic, payload in list(peer.received):
            if topic.endswith("/actuate_ack") and json.loads(payload).get("command_id") == command_id:
                return ActuateAck.model_validate_json(payload)
        return None

    return wait_until(find, timeout=10, what=f"ack of {command_id}")


def listening(s: Site) -> None:
    """Until the node's subscription is in place a command would be lost (commands are not retained): probe with
    junk that it refuses, until a refusal comes back."""
    hub = s.peer(s.pki.hub())
    hub.subscribe("iocgw/v1/node-a/actuate_ack")
    try:
        for _ in range(100):
            hub.publish("iocgw/v1/node-a/actuate", json.dumps({"command_id": "probe"}).encode())
            try:
                wait_until(lambda: hub.received, timeout=0.5, what="probe refusal")
                return
            except AssertionError:
                continue
        raise AssertionError("the node never answered a probe")
    finally:
        hub.close()


def message(siren: Literal["on", "off", "test"] | None = "on", address: str = "node-a", **over: Any) -> WarningMessage:
    fields: dict[str, Any] = {
        "id": f"alarm-{uuid.uuid4().hex[:8]}.1.created/r1/{address}/siren",
        "channel": "siren-hue",
        "recipient_id": "r1",
        "address": address,
        "text_vi": "Cảnh báo lũ",
        "alarm_id": "a1",
        "transition": "created",
        "hazard": "flood",
        "severity": "bd3",
        "area": "46",
        "created_at": datetime.now(UTC),
        "siren": siren,
    }
    return WarningMessage(**{**fields, **over})


def send(s: Site, msg: WarningMessage, key_dir: Path | None = None, **cfg: Any) -> Receipt:
    p = s.pki.pki
    config = SirenConfig(
        name="siren-hue",
        host="localhost",
        port=s.broker.port,
        tls=True,
        ca_file=p.ca_cert,
        cert_file=p.hub_cert(HUB),
        key_file=p.hub_key(HUB),
        key_dir=key_dir or s.key_dir,
        **{"timeout_s": 10.0, "siren_s": 0.5, "actuator": "siren1", **cfg},
    )

    async def go() -> Receipt:
        channel = SirenChannel(config)
        await channel.start()
        try:
            return await channel.send(msg)
        finally:
            await channel.close()

    return asyncio.run(go())


def snapshot(path: Path) -> tuple[str, int] | None:
    return (path.read_text(), path.stat().st_mtime_ns) if path.exists() else None


def test_siren_on_is_executed_acknowledged_and_ends_by_itself(site):
    msg = message("on")
    receipt = send(site, msg, siren_s=2.0)
    assert receipt.state == "delivered" and receipt.provider_id == command_id_for(msg)
    assert "executed" in receipt.detail
    assert site.siren.read_text() == "1"  # the ack comes after the relay is on, well inside its 2 s
    wait_until(lambda: site.siren.read_text() == "0", timeout=10, what="the siren's own timer switching it off")
    assert site.counters()["executed"] >= 1
    assert site.node.call(lambda a: a._extra())["actuate.executed"] >= 1  # in the node's status figures


def test_test_mode_exercises_the_test_output_and_never_the_siren(site):
    before = snapshot(site.siren)
    receipt = send(site, message("test"), test_s=0.3)
    assert receipt.state == "delivered"
    assert site.lamp.read_text() in ("1", "0")  # written; "0" already if its 0.3 s are over
    wait_until(lambda: site.lamp.read_text() == "0", timeout=10, what="the test output switched off")
    assert snapshot(site.siren) == before, "a test wrote the public siren's relay"


def test_the_same_warning_sent_again_is_not_run_again(site):
    msg = message("off")
    assert send(site, msg).state == "delivered"
    site.siren.write_text("untouched")
    again = send(site, msg)  # the outbox retrying after a lost ack: re-signed, same command id
    assert again.state == "delivered" and "earlier" in again.detail
    assert site.siren.read_text() == "untouched"
    site.siren.write_text("0")


def test_a_command_signed_with_another_key_is_refused(site, tmp_path):
    forged_keys = tmp_path / "keys"
    forged_keys.mkdir()
    (forged_keys / "node-a.key").write_text(bytes(32).hex())
    before, executed = snapshot(site.siren), site.counters()["executed"]
    with pytest.raises(ChannelError, match="bad_signature") as err:
        send(site, message("on"), key_dir=forged_keys)
    assert err.value.retryable is False
    assert snapshot(site.siren) == before and site.counters()["executed"] == executed


def test_expired_and_replayed_commands_are_refused_and_say_why(site):
    hub = site.peer(site.pki.hub())
    hub.subscribe("iocgw/v1/node-a/actuate_ack")
    past = datetime.now(UTC) - timedelta(minutes=2)
    common = {"node_id": "node-a", "actuator": "siren1", "action": "siren_on", "duration_s": 60.0}
    expired = sign(
        site.key(), {**common, "command_id": "late-1", "issued": past, "expires": past + timedelta(seconds=30)}
    )
    now = datetime.now(UTC)
    fresh = sign(
        site.key(),
        {
            **common,
            "command_id": "once-1",
            "action": "siren_off",
            "duration_s": None,
            "issued": now,
            "expires": now + timedelta(seconds=60),
        },
    )
    before = snapshot(site.siren)
    try:
        hub.publish("iocgw/v1/node-a/actuate", expired.model_dump_json().encode())
        late = ack_of(hub, "late-1")
        assert (late.outcome, late.code) == (Outcome.REFUSED, RefusalCode.EXPIRED)
        assert snapshot(site.siren) == before
        raw = fresh.model_dump_json().encode()
        hub.publish("iocgw/v1/node-a/actuate", raw)
        assert ack_of(hub, "once-1").outcome is Outcome.EXECUTED
        site.siren.write_text("untouched")
        hub.received.clear()
        hub.publish("iocgw/v1/node-a/actuate", raw)  # a captured command, replayed byte for byte
        replay = ack_of(hub, "once-1")
        assert (replay.code, replay.first_outcome) == (RefusalCode.REPLAYED, Outcome.EXECUTED)
        assert site.siren.read_text() == "untouched"
    finally:
        hub.close()
        site.siren.write_text("0")


def test_a_node_can_neither_command_nor_overhear_another_nodes_actuators(site):
    hub = site.peer(site.pki.hub())
    hub.subscribe("iocgw/v1/#")  # sees everything the broker routes, in publish order per publisher
    node_b = site.peer(site.pki.node("node-b"))
    node_b.subscribe("iocgw/v1/+/actuate", "iocgw/v1/node-a/actuate")
    now = datetime.now(UTC)
    # Even a correctly signed command (node-b has somehow got node-a's key) does not pass the broker.
    valid = sign(
        site.key(),
        {
            "node_id": "node-a",
            "command_id": "from-b",
            "actuator": "siren1",
            "action": "siren_on",
            "duration_s": 60.0,
            "issued": now,
            "expires": now + timedelta(seconds=60),
        },
    )
    before, counters = snapshot(site.siren), site.counters()
    try:
        node_b.publish("iocgw/v1/node-a/actuate", valid.model_dump_json().encode())
        node_b.publish("iocgw/v1/node-b/actuate", valid.model_dump_json().encode())  # nor its own topic
        done = uuid.uuid4().hex.encode()
        node_b.publish("iocgw/v1/node-b/status", done)
        hub.wait_for("iocgw/v1/node-b/status", done)
        assert [t for t, _ in hub.received if t.endswith("/actuate")] == []
        # The hub's own command to node-a (refused as junk, harmlessly) reaches node-a, and node-b never sees it.
        hub.publish("iocgw/v1/node-a/actuate", json.dumps({"command_id": "overheard?"}).encode())
        assert ack_of(hub, "overheard?").code is RefusalCode.MALFORMED
        assert node_b.received == []
        assert snapshot(site.siren) == before and site.counters()["executed"] == counters["executed"]
    finally:
        node_b.close()
        hub.close()


def test_no_ack_within_the_timeout_is_worth_a_retry(site):
    # node-b has a key and an ACL entry, but no agent runs for it here: nobody answers.
    with pytest.raises(ChannelError, match="no ack from node-b") as err:
        send(site, message("on", address="node-b"), timeout_s=1.0)
    assert err.value.retryable is True


@pytest.mark.parametrize(
    ("msg", "why"),
    [
        (lambda: message("on", address="node-a/horn9"), "unknown_actuator"),
        (lambda: message(None, audio="flood.wav"), "unsupported"),
        (lambda: message(None), "neither siren nor audio"),
        (lambda: message("on", address="Node A"), "bad address"),
    ],
    ids=["unknown_actuator", "relay_cannot_play", "nothing_to_do", "bad_address"],
)
def test_what_the_node_or_channel_cannot_do_fails_for_good(site, msg, why):
    before = snapshot(site.siren)
    with pytest.raises(ChannelError, match=why) as err:
        send(site, msg())
    assert err.value.retryable is False
    assert snapshot(site.siren) == before


def test_the_docs_channel_sample_validates():
    import re

    import yaml

    text = (Path(__file__).resolve().parents[3] / "docs" / "warnings-sirens.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.S | re.M)]
    samples = [b for b in blocks if isinstance(b, dict) and b.get("type") == "siren"]
    assert samples and SirenConfig.model_validate(samples[0]).key_dir == Path("/etc/iocgw/actuation")
