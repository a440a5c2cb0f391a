"""hub.alerts.source: the alert leader's own MQTT session, on a real Mosquitto.

Fake nodes publish the wire JSON with paho; an AlertSource reads it. What is checked: each node's messages arrive
in order and in bounded batches; what a failed on_batch left unacknowledged goes to the NEXT source with the same
client id, and nothing acknowledged does; a second client with the same id takes the session and the first stops
for good; seen() and malformed messages are acknowledged without being passed on.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from hub.alerts.source import AlertBatch, AlertSource
from hub.config import HubMqtt
from hub.ingest.processor import Processor
from hub.store.state import NodeInfo
from testkit.localsvc import Mosquitto
from wire import EventMessage, StatusMessage, Topics
from wire.messages import EventPhase, NodeState

TOPICS = Topics("iocgw")
NODE_IDS = ("n1", "n2", "n3")
NODES = {n: NodeInfo(n, admin_code="01001", sensors=(("wl", "water_level", 60.0),)) for n in NODE_IDS}
WAIT_S = 10.0
BASE = datetime.now(UTC) - timedelta(hours=2)


def telemetry(node: str, seq: int, value: float = 1.0) -> bytes:
    ts = (BASE + timedelta(seconds=seq)).isoformat()  # one time per reading: ingest refuses a second value for one
    reading = {"sensor_id": "wl", "quantity": "water_level", "value": value, "unit": "m"}
    return json.dumps({"v": 1, "node_id": node, "seq": seq, "ts": ts, "readings": [reading]}).encode()


class Publisher:
    """A fake node fleet: one paho client publishing QoS 1, each publish confirmed by the broker."""

    def __init__(self, broker: Mosquitto) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="fake-nodes", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(WAIT_S)
        assert info.is_published()

    def telemetry(self, node: str, seq: int, value: float = 1.0) -> None:
        self.send(TOPICS.telemetry(node), telemetry(node, seq, value))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Collector:
    """on_batch that records every batch and every (node, seq); fails while ``fail`` says so."""

    def __init__(self, fail: Callable[[AlertBatch], bool] = lambda b: False) -> None:
        self.batches: list[AlertBatch] = []
        self.arrived: queue.Queue[tuple[str, int]] = queue.Queue()
        self.fail = fail

    def __call__(self, batch: AlertBatch) -> None:
        if self.fail(batch):
            raise RuntimeError("commit failed")
        self.batches.append(batch)
        for m in batch.messages:
            self.arrived.put(m)

    def take(self, n: int) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        deadline = time.monotonic() + WAIT_S
        while len(out) < n:
            out.append(self.arrived.get(timeout=max(0.01, deadline - time.monotonic())))
        return out


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Publisher]:
    p = Publisher(mosquitto)
    yield p
    p.close()


@pytest.fixture
def make_source(mosquitto: Mosquitto) -> Iterator[Callable[..., AlertSource]]:
    made: list[AlertSource] = []

    def make(on_batch: Callable[[AlertBatch], None], client_id: str = "iocgw-alerts-test", **kw) -> AlertSource:
        settings = HubMqtt(host="127.0.0.1", port=mosquitto.port, receive_maximum=kw.pop("receive_maximum", 4000))
        processor = kw.pop("processor", None) or Processor(TOPICS, NODES, watches=lambda node, sensor, quantity: True)
        source = AlertSource(settings, client_id, on_batch, processor=processor, **kw)
        made.append(source)
        source.start()
        assert source.subscribed.wait(WAIT_S), "the source never subscribed"
        return source

    yield make
    for s in made:
        s.stop()


def by_node(messages: list[tuple[str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for node, seq in messages:
        out.setdefault(node, []).append(seq)
    return out


def first_after_marker(make_source: Callable[..., AlertSource], publisher: Publisher, seq: int) -> list[tuple]:
    """Start the next source on the session and publish a marker: what it gets before the marker is what the
    session still held unacknowledged (the broker sends a resumed session's backlog before anything new)."""
    nxt = Collector()
    make_source(nxt)
    publisher.telemetry("n1", seq)
    got: list[tuple[str, int]] = []
    while ("n1", seq) not in got:
        got += nxt.take(1)
    return got


def test_each_nodes_messages_arrive_in_order_in_bounded_batches(make_source, publisher):
    got = Collector()
    source = make_source(got, max_messages=20, max_delay_s=0.05)
    for seq in range(1, 51):
        for i, node in enumerate(NODE_IDS):
            publisher.telemetry(node, seq, value=seq + i / 10)
    status = StatusMessage(node_id="n2", seq=51, ts=datetime.now(UTC), state=NodeState.ONLINE)
    publisher.send(TOPICS.status("n2"), status.model_dump_json().encode())
    now = datetime.now(UTC)
    event = EventMessage(
        node_id="n3",
        seq=51,
        ts=now,
        event_id="e1",
        phase=EventPhase.NEW,
        camera="cam1",
        label="fire",
        score=0.9,
        top_score=0.9,
        box=(0.1, 0.1, 0.5, 0.5),
        start=now,
    )
    publisher.send(TOPICS.event("n3"), event.model_dump_json().encode())

    arrived = got.take(152)
    assert by_node(arrived) == {"n1": list(range(1, 51)), "n2": list(range(1, 52)), "n3": list(range(1, 52))}
    assert len(got.batches) >= 8  # 152 messages in batches of at most 20
    assert all(len(b.messages) <= 20 for b in got.batches)
    observations = [(o.node_id, o.value) for b in got.batches for o in b.observations]
    assert observations == [
        (node, seq + i / 10) for seq in range(1, 51) for i, node in enumerate(NODE_IDS) if (node, seq) in arrived
    ]
    for b in got.batches:
        assert b.node_seq == {n: max(seqs) for n, seqs in by_node(b.messages).items()}
    assert [(n, s) for b in got.batches for (n, s, _ts) in b.status_changes] == [("n2", "online")]
    assert [e.event_id for b in got.batches for e in b.events] == ["e1"]
    assert source.stats["passed"] == 152 and source.stats["dead_letters"] == 0
    assert not source.stopped.is_set()


def test_what_a_failed_batch_left_goes_to_the_next_source_and_nothing_acknowledged_does(make_source, publisher):
    acked_up_to = 500
    first = Collector(fail=lambda b: any(seq > acked_up_to for _n, seq in b.messages))
    a = make_source(first, max_messages=100)
    for seq in range(1, acked_up_to + 1):
        publisher.telemetry(NODE_IDS[seq % 3], seq)
    assert len(first.take(acked_up_to)) == acked_up_to  # committed: acknowledged after each on_batch returned
    for seq in range(acked_up_to + 1, 1501):  # the first batch of these fails: the leader's commit failed
        publisher.telemetry(NODE_IDS[seq % 3], seq)
    assert a.stopped.wait(WAIT_S)
    assert a.stop_reason is not None and "on_batch failed" in a.stop_reason
    assert isinstance(a.error, RuntimeError)
    assert a.wait_closed(WAIT_S)
    for seq in range(1501, 2501):  # no leader connected: the broker queues them in the session
        publisher.telemetry(NODE_IDS[seq % 3], seq)

    second = Collector()
    t0 = time.monotonic()
    b = make_source(second, max_messages=100)
    arrived = second.take(2000)
    took = time.monotonic() - t0
    assert b.session_present is True
    assert sorted(seq for _n, seq in arrived) == list(range(acked_up_to + 1, 2501))  # exactly the unacknowledged
    for node, seqs in by_node(arrived).items():
        assert seqs == sorted(seqs), node  # each node's in order
    assert second.arrived.empty()
    print(f"\nthe next source passed on all 2000 unacknowledged messages {took * 1000:.0f} ms after start()")


def test_a_source_stopped_while_its_batch_commits_acknowledges_nothing_of_it(make_source, publisher):
    entered, release = threading.Event(), threading.Event()
    committed: set[tuple[str, int]] = set()

    def slow_commit(batch: AlertBatch) -> None:
        entered.set()
        release.wait(WAIT_S)
        committed.update(batch.messages)

    a = make_source(slow_commit, max_messages=5)
    for seq in range(1, 6):
        publisher.telemetry("n1", seq)
    assert entered.wait(WAIT_S)
    stopper = threading.Thread(target=a.stop)
    stopper.start()
    assert a.stopped.wait(WAIT_S)  # stop() left the broker at once and waits for the commit in flight
    release.set()
    stopper.join(WAIT_S)
    assert committed == {("n1", s) for s in range(1, 6)}
    # The commit finished after the stop: not acknowledged, so the next leader gets them and skips them by seen().
    again = first_after_marker(make_source, publisher, 6)
    assert again == [("n1", s) for s in range(1, 7)]


def test_a_second_client_with_the_same_id_takes_the_session_and_the_first_stops_for_good(
    make_source, publisher, mosquitto
):
    first, second = Collector(), Collector()
    a = make_source(first)
    publisher.telemetry("n1", 1)
    assert first.take(1) == [("n1", 1)]
    b = make_source(second)
    assert a.stopped.wait(WAIT_S)
    # Mosquitto 2.0.11 closes the old connection without MQTT v5's DISCONNECT 0x8E; brokers that send it get the
    # other reason. Either way the first source must not reconnect (it would take the session back).
    assert a.stop_reason is not None
    assert a.stop_reason.startswith(("session taken over", "connection lost")), a.stop_reason
    assert a.wait_closed(WAIT_S), "the first source's MQTT loop is still running: it could reconnect"
    publisher.telemetry("n1", 2)
    assert second.take(1) == [("n1", 2)]
    assert b.connected and not b.stopped.is_set() and b.stats["disconnects"] == 0
    assert first.arrived.empty() and a.stats["received"] == 1
    log = (mosquitto.root / "broker.log").read_text()
    assert log.count("already connected, closing old connection") == 1, log


def test_a_lost_connection_resumes_the_session_only_while_reconnect_says_so(make_source, publisher, mosquitto):
    """The broker restarts (its sessions saved on the way down): the source allowed to reconnect resumes its
    session and goes on; one without reconnect() stops at the loss, since on Mosquitto a lost connection and a
    session taken over look the same."""
    kept, dropped = Collector(), Collector()
    leading = threading.Event()
    leading.set()
    a = make_source(kept, reconnect=leading.is_set)
    b = make_source(dropped, client_id="iocgw-alerts-other")
    publisher.telemetry("n1", 1)
    assert kept.take(1) == [("n1", 1)] and dropped.take(1) == [("n1", 1)]
    publisher.close()
    mosquitto.stop()
    assert b.stopped.wait(WAIT_S) and b.stop_reason is not None and b.stop_reason.startswith("connection lost")
    assert b.wait_closed(WAIT_S)
    mosquitto.start()
    again = Publisher(mosquitto)
    try:
        again.telemetry("n1", 2)
        assert kept.take(1) == [("n1", 2)]
        assert a.stats["connects"] == 2 and a.session_present is True and not a.stopped.is_set()
        leading.clear()  # leadership lost: the next loss of the connection ends the source
        mosquitto.stop()
        assert a.stopped.wait(WAIT_S) and a.wait_closed(WAIT_S)
    finally:
        again.close()


def test_seen_messages_are_acknowledged_and_skipped(make_source, publisher):
    got = Collector()
    evaluated = {"n1": 5}  # as PgAlertStore.node_seqs() would say after the last leader's commits
    a = make_source(got, seen=lambda node, seq: seq <= evaluated.get(node, 0))
    for seq in range(1, 11):
        publisher.telemetry("n1", seq)
    assert got.take(5) == [("n1", s) for s in range(6, 11)]
    assert a.stats["skipped_seen"] == 5
    assert [b.node_seq for b in got.batches if b.node_seq][-1] == {"n1": 10}
    publisher.telemetry("n1", 10)  # a node's resend of what this session has passed on already
    publisher.telemetry("n1", 11)
    assert got.take(1) == [("n1", 11)]
    assert a.stats["duplicates"] == 1
    a.stop()
    assert first_after_marker(make_source, publisher, 12) == [("n1", 12)]  # all were acknowledged


def test_a_processor_seeded_with_the_last_leaders_trackers_drops_repeats_and_keeps_late_messages(
    make_source, publisher
):
    """The previous leader evaluated 1-5 and 8 (7 and 6 never reached it): its trackers, committed with its last
    batch, make the next leader drop exactly those, and evaluate 6 and 7 when a node's outbox sends them late."""
    got = Collector()
    processor = Processor(TOPICS, dict(NODES), watches=lambda *_: True, dedupe_state={"n1": (5, [8])})
    a = make_source(got, processor=processor)
    for seq in (4, 5, 8, 9, 6, 7):
        publisher.telemetry("n1", seq)
    assert got.take(3) == [("n1", 9), ("n1", 6), ("n1", 7)]
    assert a.stats["duplicates"] == 3
    # The batch carries the trackers to commit: now every number up to 9 is done.
    assert [b.dedupe for b in got.batches if b.dedupe][-1] == {"n1": (9, [])}
    a.stop()


def test_malformed_messages_are_counted_and_acknowledged_and_never_stop_the_source(make_source, publisher):
    got = Collector()
    a = make_source(got)
    publisher.send(TOPICS.telemetry("n1"), b"{not json")
    publisher.send(TOPICS.telemetry("n1"), telemetry("n2", 1))  # node_id does not match the topic
    bad_sensor = json.loads(telemetry("n1", 1))
    bad_sensor["readings"][0]["sensor_id"] = "ghost"
    publisher.send(TOPICS.telemetry("n1"), json.dumps(bad_sensor).encode())  # a sensor the registry lacks
    publisher.telemetry("n1", 2)
    assert got.take(2) == [("n1", 1), ("n1", 2)]
    assert [(o.node_id, o.sensor_id) for b in got.batches for o in b.observations] == [("n1", "wl")]
    assert a.stats["dead_letters"] == 3
    assert not a.stopped.is_set()
    a.stop()
    assert first_after_marker(make_source, publisher, 3) == [("n1", 3)]  # the malformed ones were acknowledged


def test_the_source_needs_the_same_topic_prefix_as_its_processor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prefix"):
        AlertSource(HubMqtt(prefix="other"), "x", lambda b: None, processor=Processor(TOPICS, NODES))
