"""TLS settings of the node and the hub: paths only, and a certificate always with its key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hub.config import HubConfig
from wire.nodeconfig import NodeConfig, TlsSettings


def test_node_and_hub_take_tls_paths():
    tls = {"ca_file": "/etc/iocgw/ca.crt", "cert_file": "/etc/iocgw/node.crt", "key_file": "/etc/iocgw/node.key"}
    node = NodeConfig.model_validate({"node_id": "river-001", "mqtt": {"port": 8883, "tls": tls}})
    assert node.mqtt.tls is not None
    assert node.mqtt.tls.tls_set_kwargs() == {
        "ca_certs": "/etc/iocgw/ca.crt",
        "certfile": "/etc/iocgw/node.crt",
        "keyfile": "/etc/iocgw/node.key",
    }
    hub = HubConfig.model_validate({"mqtt": {"tls": tls}})
    assert hub.mqtt.tls == node.mqtt.tls
    assert TlsSettings(ca_file="/ca.crt").tls_set_kwargs()["certfile"] is None  # server-only TLS


@pytest.mark.parametrize(
    "tls",
    [
        {"ca_file": "/ca.crt", "cert_file": "/n.crt"},
        {"ca_file": "/ca.crt", "key_file": "/n.key"},
        {"ca_file": "/ca.crt", "insecure": True},
        {"cert_file": "/n.crt", "key_file": "/n.key"},
    ],
)
def test_incomplete_or_insecure_tls_is_refused(tls):
    with pytest.raises(ValidationError):
        NodeConfig.model_validate({"node_id": "river-001", "mqtt": {"tls": tls}})
