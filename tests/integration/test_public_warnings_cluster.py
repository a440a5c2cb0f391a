"""Public warnings in cluster mode through the real path: a node -> Mosquitto -> two hub processes on one shared
subscription and one PostgreSQL (alerts.cluster) -> Kannel (bearerbox, smsbox, fake SMSC) -> delivery reports back.
The leader, which alone sends, is SIGKILLed mid-fan-out; the standby takes the senders over from the shared outbox
(hub/warn/pg_outbox.py): each resident gets the warning once, and both hubs' consoles show the same messages
(docs/scaling.md, "Cluster mode"; issue 17)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench._alerts_load import EdgePublisher
from bench.warnings import DLR_ENV, FAN, HIGH, LOW, hub_config, write_inputs
from testkit.hubproc import HubProcess
from testkit.kannel import Kannel
from testkit.localsvc import InfluxDB, Mosquitto, PostgreSQL, free_port
from tests.hub.api.support import api_section
from tests.integration.test_alert_cluster import leading
from tests.integration.test_public_warnings import SUBSCRIBERS, first_parts, states
from tests.support.wait import wait_until

pytestmark = pytest.mark.services


def test_the_standby_finishes_a_killed_leaders_fan_out_and_each_resident_gets_it_once(
    tmp_path: Path,
    mosquitto: Mosquitto,
    influx: InfluxDB,
    kannel: Kannel,
    postgres: PostgreSQL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DLR_ENV, "dlr-test-token-0123456789")
    monkeypatch.setenv("IOCGW_TEST_PG_DSN", postgres.dsn)
    inputs = write_inputs(tmp_path, SUBSCRIBERS)
    standby_port = free_port()  # the delivery reports come to the hub that survives (any hub can record them)
    hubs = []
    for name, port in (("hub-a", free_port()), ("hub-b", standby_port)):
        config = hub_config(inputs, mosquitto, influx, kannel, standby_port, rate=20.0)
        config["http"]["port"] = port
        config["mqtt"] |= {"client_id": f"iocgw-{name}", "shared_group": "ingest"}
        config["alerts"]["cluster"] = {"dsn": {"env": "IOCGW_TEST_PG_DSN"}}
        config["warnings"]["reconcile_s"] = 15
        config["api"] = api_section()
        hubs.append(HubProcess(tmp_path / name, config))
    leader, standby = hubs
    leader.start()
    wait_until(lambda: leading(leader), what="hub-a leading")  # started first: it leads, hub-b stands by
    standby.start()
    fan = EdgePublisher("127.0.0.1", mosquitto.port, FAN, "stage")
    fan.connect()
    try:
        fan.publish(LOW)
        fan.publish(HIGH)  # BĐ3 at the commune's station: SUBSCRIBERS residents, 20 SMS a second
        wait_until(lambda: len(first_parts(kannel)) >= SUBSCRIBERS // 3, what="a third of the SMS")
        assert not leading(standby), "only the leader sends"
        leader.kill()
        wait_until(lambda: leading(standby), timeout=10, what="the standby leading")
        wait_until(lambda: len(first_parts(kannel)) >= SUBSCRIBERS, timeout=60, what="every SMS")
        wait_until(lambda: not {"queued", "sending", "unknown"} & set(states(standby)), timeout=30, what="settled")
        got = Counter(s.receiver for s in first_parts(kannel))
        assert sorted(got) == sorted(f"+8490{k:07d}" for k in range(1, SUBSCRIBERS + 1))
        assert max(got.values()) == 1, [n for n, c in got.items() if c > 1]
        wait_until(lambda: states(standby) == {"delivered": SUBSCRIBERS}, timeout=30, what="every report recorded")
        leader.start()  # back as a standby: it serves the same record from PostgreSQL
        assert states(leader) == {"delivered": SUBSCRIBERS}
    finally:
        fan.close()
        for hub in hubs:
            hub.kill()
