"""A PKI for tests and a real Mosquitto started with the config `iocgw provision mosquitto` generates."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from hub.provision.acl import AclPlan
from hub.provision.ca import PkiDir, cert_pem, create_ca, key_pem, new_key, now
from hub.provision.certs import Usage, build_cert, issue_hub, issue_node, issue_server
from hub.provision.files import write_public, write_secret
from hub.provision.identities import load_identities
from hub.provision.mosquitto_conf import BrokerSettings, write_bundle
from hub.provision.passwords import set_password
from testkit.localsvc import Mosquitto, _port_open, free_port

HUB = "iocgw-hub"
HUB2 = "iocgw-hub-2"  # a second hub: each hub process has its own identity
ALERTS = "iocgw-alerts"  # the hub's MQTT alert notifier, with a client certificate of its own
CERT_NODES = ("node-a", "node-b")
PASSWORD_NODE = "logger-c"


@dataclass(frozen=True)
class Identity:
    cert: Path | None = None
    key: Path | None = None
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True)
class FixturePki:
    pki: PkiDir
    registry: str  # glob of node config files
    foreign: Identity  # node-a's name, signed by another CA
    expired: Identity  # node-a's name, signed by our CA, expired yesterday

    def node(self, node_id: str) -> Identity:
        return Identity(self.pki.node_cert(node_id), self.pki.node_key(node_id))

    def hub(self, name: str = HUB) -> Identity:
        return Identity(self.pki.hub_cert(name), self.pki.hub_key(name))

    def logger(self, password: str | None = None) -> Identity:
        real = self.pki.node_password(PASSWORD_NODE).read_text().strip()
        return Identity(username=PASSWORD_NODE, password=real if password is None else password)


def write_node_config(path: Path, node_id: str, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"node_id: {node_id}\nsite:\n  name: test site {node_id}\n{extra}")
    return path


def make_pki(root: Path) -> FixturePki:
    pki = PkiDir(root / "pki")
    ca = create_ca(pki)
    for node_id in CERT_NODES:
        issue_node(ca, pki, node_id)
        write_node_config(root / "nodes" / f"{node_id}.yaml", node_id)
    write_node_config(root / "nodes" / f"{PASSWORD_NODE}.yaml", PASSWORD_NODE)
    set_password(pki.passwd, pki.node_password(PASSWORD_NODE), PASSWORD_NODE)
    issue_hub(ca, pki, HUB)
    issue_hub(ca, pki, HUB2)
    issue_hub(ca, pki, ALERTS)
    issue_server(ca, pki, ("localhost",), ("127.0.0.1",))

    other = create_ca(PkiDir(root / "foreign-pki"), "someone else's CA")
    key = new_key()
    foreign = Identity(
        write_public(
            root / "foreign" / "node-a.crt", cert_pem(build_cert(other, "node-a", Usage.CLIENT, key, days=30))
        ),
        write_secret(root / "foreign" / "node-a.key", key_pem(key)),
    )
    key = new_key()
    old = build_cert(ca, "node-a", Usage.CLIENT, key, days=1, not_before=now() - dt.timedelta(days=2))
    expired = Identity(
        write_public(root / "expired" / "node-a.crt", cert_pem(old)),
        write_secret(root / "expired" / "node-a.key", key_pem(key)),
    )
    return FixturePki(pki, str(root / "nodes" / "*.yaml"), foreign, expired)


class ProvisionedMosquitto(Mosquitto):
    """Mosquitto run with the generated bundle (TLS listener on ``port``, password listener on ``password_port``)."""

    def __init__(
        self,
        root: Path,
        test_pki: FixturePki,
        registry: list[str] | None = None,
        password_plaintext: bool = False,
        alert_publishers: list[str] | None = None,
    ) -> None:
        super().__init__(root)
        self.alert_publishers = alert_publishers or []
        self.password_plaintext = password_plaintext
        self.test_pki = test_pki
        self.registry = registry or [test_pki.registry]
        self.password_port = free_port()
        self.bundle = self.root / "bundle"

    def write_config(self) -> Path:
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        plan = AclPlan(nodes=load_identities(self.registry), hubs=[HUB, HUB2], alert_publishers=self.alert_publishers)
        settings = BrokerSettings(
            tls_port=self.port,
            bind="127.0.0.1",
            password_port=self.password_port,
            password_plaintext=self.password_plaintext,
            data_dir=data,
            # As root, Mosquitto would switch to the 'mosquitto' user, who cannot read the 0600 server key here.
            run_as="root" if os.geteuid() == 0 else None,
            log_file=self.root / "broker.log",
        )
        write_bundle(plan, settings, self.test_pki.pki, self.bundle)
        return self.bundle / "mosquitto.conf"

    def ready(self) -> bool:
        return _port_open(self.port) and _port_open(self.password_port)
