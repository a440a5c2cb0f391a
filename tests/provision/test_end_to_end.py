"""The real node agent and the real hub, each with its own certificate, over the generated TLS listener."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.hubproc import HubProcess
from tests.conftest import readings_for
from tests.provision.broker import HUB, FixturePki, ProvisionedMosquitto
from tests.support.influx import count, query
from tests.support.processes import AgentThread
from tests.support.wait import wait_until
from wire.nodeconfig import NodeConfig

pytestmark = pytest.mark.services


def tls(test_pki: FixturePki, cert: Path, key: Path) -> dict[str, str]:
    return {"ca_file": str(test_pki.pki.ca_cert), "cert_file": str(cert), "key_file": str(key)}


def test_node_to_hub_over_mutual_tls(tmp_path, test_pki, secure_broker: ProvisionedMosquitto, influx):
    pki = test_pki.pki
    hub = HubProcess(
        tmp_path / "hub",
        {
            # "localhost" is in the broker certificate's SANs: the name is checked, not only the chain.
            "mqtt": {
                "host": "localhost",
                "port": secure_broker.port,
                "client_id": HUB,
                "tls": tls(test_pki, pki.hub_cert(HUB), pki.hub_key(HUB)),
            },
            "influx": {"url": influx.url, "database": "iocgw"},
            "batch": {"max_delay_s": 0.1, "retry_budget_s": 1.0},
            # The test's readings come from sensors the node files do not declare; the broker's ACL (generated
            # from those files) is what keeps unknown nodes out here.
            "registry": {"seed_files": [test_pki.registry], "accept_unknown_nodes": True},
        },
    )
    node_config = NodeConfig.model_validate(
        {
            "node_id": "node-a",
            "data_dir": str(tmp_path / "node-a"),
            "heartbeat_s": 3600,
            "mqtt": {
                "host": "localhost",
                "port": secure_broker.port,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 1.0,
                "tls": tls(test_pki, pki.node_cert("node-a"), pki.node_key("node-a")),
            },
            "outbox": {"confirm_timeout_s": 3.0, "synchronous": "NORMAL"},
        }
    )
    hub.start()
    node = AgentThread(node_config).start()
    try:
        for i in range(20):
            node.call(lambda a, i=i: a.record(readings_for(i)))
        wait_until(lambda: count(influx.url, "iocgw", "water_level") >= 100, what="100 points in InfluxDB")
        q = 'SELECT "value" FROM "water_level" WHERE node_id=\'node-a\' GROUP BY sensor_id'
        rows = query(influx.url, "iocgw", q)
        stored = {(r["sensor_id"], r["time"]): r["value"] for r in rows}
        expected = {(r.sensor_id, int(r.ts.timestamp() * 1000)): r.value for i in range(20) for r in readings_for(i)}
        assert stored == expected
        # The hub's acks came back through the ACL (hub writes ack, node reads its own): the outbox empties.
        wait_until(lambda: node.call(lambda a: a.outbox.depth) == 0, what="outbox emptied by hub acks")
        assert hub.metrics()["dead_letters"] == 0
    finally:
        node.stop()
        hub.kill()
