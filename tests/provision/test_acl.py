"""The ACL and broker config generated from the registry (node files or hub.db), before any broker runs them."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from hub.node_seed import node_info
from hub.provision.acl import AclPlan, render_acl
from hub.provision.files import ProvisionError
from hub.provision.identities import NodeIdentity, load_identities
from hub.provision.mosquitto_conf import BrokerSettings, render_conf
from hub.store.state import HubState
from plumbing.configfile import ConfigError
from tests.provision.broker import write_node_config
from wire.nodeconfig import load_node_config


def blocks(acl: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    user = None
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line.split()[1]
            out[user] = []
        elif line and not line.startswith("#"):
            assert user is not None, f"rule outside a user block: {line}"
            out[user].append(line)
    return out


def test_each_node_gets_only_its_own_topics():
    plan = AclPlan(nodes=[NodeIdentity(node_id="river-001"), NodeIdentity(node_id="dam-7", prefix="qn")], hubs=["h"])
    acl = blocks(render_acl(plan))
    assert acl["river-001"] == [
        "topic write iocgw/v1/river-001/telemetry",
        "topic write iocgw/v1/river-001/status",
        "topic write iocgw/v1/river-001/event",
        "topic write iocgw/v1/river-001/snapshot/+/+",
        "topic write iocgw/v1/river-001/actuate_ack",
        "topic read iocgw/v1/river-001/config",
        "topic read iocgw/v1/river-001/ack",
        "topic read iocgw/v1/river-001/actuate",
    ]
    assert all("qn/v1/dam-7/" in rule for rule in acl["dam-7"])
    assert not any("pattern" in line for line in render_acl(plan).splitlines())


def test_hub_reads_every_prefix_also_shared_and_writes_only_config_ack_and_actuate():
    plan = AclPlan(nodes=[NodeIdentity(node_id="a"), NodeIdentity(node_id="b", prefix="qn")], hubs=["h1", "h2"])
    acl = blocks(render_acl(plan))
    for hub in ("h1", "h2"):
        rules = acl[hub]
        assert {r for r in rules if r.startswith("topic read")} == {
            "topic read iocgw/v1/#",
            "topic read $share/+/iocgw/v1/#",
            "topic read qn/v1/#",
            "topic read $share/+/qn/v1/#",
        }
        writes = [r.rsplit("/", 1)[1] for r in rules if r.startswith("topic write")]
        assert sorted(writes) == ["ack", "ack", "actuate", "actuate", "config", "config"]


def test_alert_publisher_writes_only_alert_topics():
    plan = AclPlan(nodes=[NodeIdentity(node_id="a")], hubs=["h"], alert_publishers=["iocgw-alerts"])
    assert blocks(render_acl(plan))["iocgw-alerts"] == ["topic write iocgw/alerts/#"]


def test_one_identity_in_two_roles_is_refused():
    with pytest.raises(ValidationError, match="two roles"):
        AclPlan(nodes=[NodeIdentity(node_id="iocgw-hub")], hubs=["iocgw-hub"])


def test_registry_from_node_files_uses_each_nodes_prefix(tmp_path):
    write_node_config(tmp_path / "a.yaml", "river-001")
    write_node_config(tmp_path / "sub" / "b.yaml", "dam-7", "mqtt:\n  prefix: quangnam\n")
    nodes = load_identities([str(tmp_path / "**" / "*.yaml")])
    assert nodes == [NodeIdentity(node_id="dam-7", prefix="quangnam"), NodeIdentity(node_id="river-001")]


def test_registry_from_hub_db_takes_registered_nodes_only(tmp_path):
    state = HubState(tmp_path / "hub.db")
    state.register([node_info(load_node_config(write_node_config(tmp_path / "a.yaml", "river-001")))])
    # What the hub records for a node that published without being registered (accept_unknown_nodes).
    state.conn.execute("INSERT INTO nodes (node_id, registered, last_seen) VALUES ('stranger', 0, ?)", (time.time(),))
    state.close()
    assert load_identities([str(tmp_path / "hub.db")], prefix="hn") == [NodeIdentity(node_id="river-001", prefix="hn")]


def test_registry_problems_name_the_source(tmp_path):
    with pytest.raises(ProvisionError, match="matches no node config"):
        load_identities([str(tmp_path / "*.yaml")])
    (tmp_path / "bad.yaml").write_text("node_id: Bad/Id\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_identities([str(tmp_path / "*.yaml")])
    write_node_config(tmp_path / "x" / "a.yaml", "same")
    write_node_config(tmp_path / "y" / "a.yaml", "same", "mqtt:\n  prefix: other\n")
    with pytest.raises(ProvisionError, match="prefixes"):
        load_identities([str(tmp_path / "x" / "*.yaml"), str(tmp_path / "y" / "*.yaml")])


def test_conf_refuses_anonymous_and_takes_identity_from_the_certificate(tmp_path):
    conf = render_conf(BrokerSettings(password_port=1883), tmp_path, crl=False).splitlines()
    tls = conf[conf.index("listener 8883 0.0.0.0") : conf.index("listener 1883 0.0.0.0")]
    for line in ("allow_anonymous false", "require_certificate true", "use_identity_as_username true"):
        assert line in tls
    pw = conf[conf.index("listener 1883 0.0.0.0") :]
    assert "allow_anonymous false" in pw and f"password_file {tmp_path / 'passwd'}" in pw
    assert "per_listener_settings true" in conf and "persistence true" in conf
    assert not any(line.startswith("allow_anonymous true") for line in conf)


def test_password_listener_is_tls_unless_plain_text_is_asked_for(tmp_path):
    def password_listener(settings: BrokerSettings) -> list[str]:
        conf = render_conf(settings, tmp_path, crl=False).splitlines()
        return conf[conf.index(f"listener {settings.password_port} 0.0.0.0") :]

    pw = password_listener(BrokerSettings(password_port=8884))
    for line in (f"certfile {tmp_path / 'certs' / 'server.crt'}", f"keyfile {tmp_path / 'certs' / 'server.key'}"):
        assert line in pw
    assert "tls_version tlsv1.2" in pw and "require_certificate true" not in pw  # the password is the identity
    plain = password_listener(BrokerSettings(password_port=1883, password_plaintext=True))
    assert not any(line.startswith(("certfile", "keyfile")) for line in plain)
    assert any("--password-plaintext" in line for line in plain)  # the file says why it is plain
    with pytest.raises(ValidationError, match="password listener"):
        BrokerSettings(password_plaintext=True)


def test_password_listener_needs_its_own_port():
    with pytest.raises(ValidationError, match="port of its own"):
        BrokerSettings(tls_port=8883, password_port=8883)
