"""A hub of a shared subscription group SIGKILLed: the survivors store everything, in a bounded time, with the dead
hub still down (docs/scaling.md, "When a hub of a group dies").

With the old default (session expiry 7 days for every hub) Mosquitto went on handing the dead hub's session its
share of new messages; they waited there until the nodes resent them, and each resend had the same chance of
landing there again. A hub in a shared group now defaults to session expiry 0: its subscription ends with its
connection, and the nodes' outboxes, not the broker, hold what no hub has confirmed.
"""

from __future__ import annotations

import logging
import time

import pytest

from hub.config import HubConfig, HubMqtt
from tests.conftest import readings_for
from tests.support.influx import count, query
from tests.support.wait import wait_until

WEEK_S = 7 * 86_400
NODES = [f"river-{i:03d}" for i in range(30, 34)]
BEFORE, AFTER = 150, 150  # messages per node published before and after the kill, 5 readings each
CONFIRM_TIMEOUT_S = 3.0  # the make_node fixture's outbox.confirm_timeout_s
# One confirm timeout for what was in flight to the killed hub, the node's once-a-second resend check, a batch
# delay: 3.5-3.6 s measured. Bounded at four confirm timeouts; with 7-day sessions (the old default) this test fails
# here: the last readings took 64 s.
FAILOVER_BOUND_S = 12.0


@pytest.mark.parametrize(
    ("mqtt", "expiry"),
    [
        ({}, WEEK_S),  # a hub on its own: the broker queues for it while it restarts
        ({"shared_group": "ingest"}, 0),
        ({"shared_group": "ingest", "session_expiry_s": 5}, 5),  # set explicitly: kept
        ({"shared_group": "ingest", "session_expiry_s": WEEK_S}, WEEK_S),  # kept too (backward compatible), warned
        ({"session_expiry_s": 60}, 60),
    ],
)
def test_session_expiry_defaults_short_in_a_shared_group(mqtt, expiry):
    assert HubConfig.model_validate({"mqtt": mqtt}).mqtt.session_expiry_s == expiry


def test_a_long_session_in_a_shared_group_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="hub.config"):
        HubMqtt(shared_group="ingest", session_expiry_s=HubMqtt.LONG_SHARED_SESSION_S)
        HubMqtt(shared_group="ingest")
        HubMqtt(session_expiry_s=WEEK_S)
    assert caplog.records == []
    with caplog.at_level(logging.WARNING, logger="hub.config"):
        HubMqtt(shared_group="ingest", session_expiry_s=HubMqtt.LONG_SHARED_SESSION_S + 1)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "shared_group 'ingest'" in caplog.records[0].getMessage()


def publish(node, first: int, n: int) -> None:
    for i in range(first, first + n):
        node.call(lambda a, i=i: a.record(readings_for(i)))


def stored_rows(influx, node_id: str) -> list[tuple[str, int, float]]:
    rows = query(
        influx.url, "iocgw", f'SELECT "value" FROM "water_level" WHERE node_id=\'{node_id}\' GROUP BY sensor_id'
    )
    return sorted((r["sensor_id"], r["time"], r["value"]) for r in rows)


def expected_rows(n: int) -> list[tuple[str, int, float]]:
    rows = [r for i in range(n) for r in readings_for(i)]
    return sorted((r.sensor_id, int(r.ts.timestamp() * 1000), r.value) for r in rows if r.ts is not None)


def outbox_depth(node) -> int:
    return int(node.call(lambda agent: agent.outbox.depth))


def test_a_killed_hub_of_a_shared_group_holds_nothing_back(make_hub, make_node, influx):
    hub_a = make_hub("hub-a", mqtt={"shared_group": "ingest"})
    hub_b = make_hub("hub-b", mqtt={"shared_group": "ingest"})
    nodes = [make_node(node_id, confirm_timeout_s=CONFIRM_TIMEOUT_S) for node_id in NODES]
    for node in nodes:
        publish(node, 0, BEFORE)
    # Killed mid-stream, once both hubs take their share: some of hub B's messages are still in flight to it.
    wait_until(
        lambda: hub_a.metrics()["readings_received"] > 0 and hub_b.metrics()["readings_received"] > 0,
        what="both hubs receiving",
    )
    killed_at = time.monotonic()
    hub_b.kill()
    for node in nodes:
        publish(node, BEFORE, AFTER)

    total = len(NODES) * (BEFORE + AFTER) * 5
    wait_until(
        lambda: count(influx.url, "iocgw", "water_level") >= total,
        timeout=FAILOVER_BOUND_S,
        interval=0.1,
        what=f"all {total} readings stored by the surviving hub with the killed one down",
    )
    failover_s = time.monotonic() - killed_at
    print(f"every reading stored {failover_s:.1f} s after the kill")
    assert hub_b.proc is None, "the killed hub stays down"

    # Nothing lost, nothing doubled, nothing else: each reading exactly once, with its value.
    for node_id in NODES:
        assert stored_rows(influx, node_id) == expected_rows(BEFORE + AFTER)
    assert count(influx.url, "iocgw", "water_level") == total
    # The survivor wrote every reading published after the kill, and none twice (repeats are counted and dropped).
    a = hub_a.metrics()
    assert len(NODES) * AFTER * 5 <= a["readings_received"] <= total
    # And the nodes know: everything is confirmed, so nothing is resent later.
    wait_until(lambda: all(outbox_depth(node) == 0 for node in nodes), what="every outbox emptied by acks")
