"""The dispatcher's queue in PostgreSQL, shared by hubs: each alarm transition notified once per target when the
alert leader changes hands.

test_dispatcher.py runs the whole dispatcher contract on this queue too (``new_queue``); here is what sharing adds:
two dispatchers (two hubs) on one queue, a hub SIGKILLed in the middle of a webhook request, re-submission by a new
leader, and the claim's lease itself. A real PostgreSQL (one cluster per module), real webhook receivers, a real
child process for the hub that dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from hub.alerts.alarm import Condition, Transition, apply_condition
from hub.alerts.notify import Dispatcher, NotifyConfig
from hub.alerts.notify.delivery_queue import SENT, SqliteQueue
from hub.alerts.notify.pg_queue import PgQueue
from hub.alerts.rules.severity import Severity
from testkit.localsvc import PostgreSQL
from tests.hub.alerts.notify.conftest import PG_LEASE_MARGIN_S, PG_POLL_S
from tests.hub.alerts.notify.stubs import T0, HttpStub, make_alarm, run

SECRET_ENV = "IOCGW_TEST_HOOK_SECRET"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret")


def hook(name: str, url: str, **over: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": name, "url": url, "secret": {"env": SECRET_ENV}, **over}


def notify_config(targets: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None) -> NotifyConfig:
    routes = routes if routes is not None else [{"targets": [t["name"] for t in targets]}]
    return NotifyConfig.model_validate(
        {"targets": targets, "routes": routes, "retry_initial_s": 0.05, "retry_max_s": 0.2}
    )


def pg_queue(pg: PostgreSQL, schema: str, owner: str | None = None) -> PgQueue:
    return PgQueue(pg.dsn, schema=schema, owner=owner, poll_s=PG_POLL_S, lease_margin_s=PG_LEASE_MARGIN_S)


def delivery_ids(stub: HttpStub) -> Counter[tuple[str, str]]:
    return Counter((s.path, s.headers["X-Iocgw-Delivery"]) for s in stub.seen)


def test_two_hubs_on_one_queue_send_each_notification_once_and_in_order(pg_cluster: PostgreSQL, pg_schema: str):
    """Both hubs submit every change (as an old and a new leader may) and both run workers for both targets."""
    count = 15

    async def main() -> None:
        stub = await HttpStub().start()
        cfg = notify_config([hook("ops", stub.url("/ops")), hook("board", stub.url("/board"))])
        hubs = [Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, f"hub-{i}")) for i in range(2)]
        for d in hubs:
            await d.start()
        try:
            queued = []
            for i in range(count):
                alarm = make_alarm(subject=f"station-{i:02d}")
                first, second = hubs if i % 2 == 0 else hubs[::-1]  # each hub is the first to submit half of them
                queued.append((first.submit(alarm, Transition.CREATED), second.submit(alarm, Transition.CREATED)))
            for _ in range(2 * count):
                await stub.next_request()
            for d in hubs:
                assert await d.drain(timeout=5)
            sent = [sum(s.sent for s in d.stats().values()) for d in hubs]
            rows = hubs[0].deliveries(limit=1000)
        finally:
            for d in hubs:
                await d.close()
            await stub.stop()
        assert queued == [(2, 0)] * count  # the second submit of the same change queues nothing
        assert len(rows) == 2 * count and {r.status for r in rows} == {SENT} and {r.attempts for r in rows} == {1}
        assert sum(sent) == 2 * count  # each row recorded sent by exactly one of the hubs
        ids = delivery_ids(stub)
        assert len(ids) == 2 * count and set(ids.values()) == {1}  # every (target, notification) arrived once
        for path in ("/ops", "/board"):  # and each target's in the order they were queued
            subjects = [s.json()["alarm"]["subject"] for s in stub.seen if s.path == path]
            assert subjects == [f"station-{i:02d}" for i in range(count)]

    run(main())


def test_the_two_hubs_deliveries_arrive_once_each_in_order(pg_cluster: PostgreSQL, pg_schema: str):
    """The same as above, looked at from the receiver: every (target, notification id) once, a target's in order."""

    async def main() -> list[Any]:
        stub = await HttpStub().start()
        cfg = notify_config([hook("ops", stub.url("/ops"))])
        hubs = [Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, f"hub-{i}")) for i in range(2)]
        alarms = [make_alarm(subject=f"station-{i:02d}") for i in range(12)]
        for d in hubs:
            await d.start()
        try:
            for alarm in alarms:  # both hubs, from threads of their own, at once
                await asyncio.gather(*(asyncio.to_thread(d.submit, alarm, Transition.CREATED) for d in hubs))
            for _ in alarms:
                await stub.next_request()
            for d in hubs:
                assert await d.drain(timeout=5)
        finally:
            for d in hubs:
                await d.close()
            await stub.stop()
        return list(stub.seen)

    seen = run(main())
    assert [s.json()["alarm"]["subject"] for s in seen] == [f"station-{i:02d}" for i in range(12)]
    assert set(Counter(s.headers["X-Iocgw-Delivery"] for s in seen).values()) == {1}


class HubProcess:
    """tests/hub/alerts/notify/dispatcher_proc.py: a hub whose dispatcher we can SIGKILL."""

    def __init__(self, pg: PostgreSQL, schema: str, url: str, owner: str, count: int, timeout_s: float) -> None:
        args = [pg.dsn, schema, url, owner, str(count), str(timeout_s)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hub.alerts.notify.dispatcher_proc", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, SECRET_ENV: "s3cret"},
        )

    async def first_line(self) -> str:
        assert self.proc.stdout is not None
        return (await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), 15)).strip()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=5)


def test_a_hub_killed_mid_delivery_is_replaced_after_its_lease_and_nothing_else_repeats(
    pg_cluster: PostgreSQL, pg_schema: str
):
    """Hub A sends the first of two notifications to a receiver that holds the request, and is SIGKILLed before it
    can record anything. Hub B, on the same queue, leaves the row alone while A's lease runs, then sends it (the one
    repeat the design allows: same X-Iocgw-Delivery), then the second row, which A never sent."""
    timeout_s = 1.5  # A's guard_s is 2 x 1.5 + 1 = 4 s; the lease 4.5 s

    async def main() -> None:
        stub = await HttpStub(hang=True).start()
        a = HubProcess(pg_cluster, pg_schema, stub.url("/ops"), "hub-a", 2, timeout_s)
        b: Dispatcher | None = None
        try:
            assert await a.first_line() == "submitted 2"
            first = await stub.next_request(timeout=10)  # A's attempt, held by the receiver
            assert first.json()["alarm"]["subject"] == "station-0"
            b = Dispatcher(
                notify_config([hook("ops", stub.url("/ops"), timeout_s=timeout_s)]),
                queue=pg_queue(pg_cluster, pg_schema, "hub-b"),
            )
            await b.start()
            a.kill()
            killed = time.monotonic()
            assert isinstance(b.queue, PgQueue)
            (row_id, owner, left), (_, second_owner, _) = b.queue.claims()
            assert owner == "hub-a" and second_owner is None and left is not None
            assert 4.5 - 1.5 < left <= 4.5  # the lease set when A claimed it, less the time since
            lease_end = killed + left
            stub.release()  # the held request's answer goes nowhere: A is gone
            retry = await stub.next_request(timeout=left + 5)
            arrived_after_lease = retry.at - lease_end
            then = await stub.next_request(timeout=5)
            assert await b.drain(timeout=5)
            rows = {r.id: r for r in b.deliveries()}
            stats = b.stats()["ops"]
        finally:
            if a.proc.poll() is None:
                a.kill()
            if b is not None:
                await b.close()
            await stub.stop()
        assert arrived_after_lease >= -0.05, f"hub B sent {-arrived_after_lease:.2f} s before A's lease ran out"
        assert arrived_after_lease < 1.0  # and soon after it (B looks every 50 ms)
        assert retry.headers["X-Iocgw-Delivery"] == first.headers["X-Iocgw-Delivery"]
        assert then.json()["alarm"]["subject"] == "station-1"
        assert len(stub.seen) == 3  # station-0 twice (A's cut-off attempt, B's), station-1 once
        assert rows[row_id].status == SENT and rows[row_id].attempts == 1  # A's attempt was never recorded
        assert [r.status for r in rows.values()] == [SENT, SENT] and (stats.sent, stats.retried) == (2, 0)

    run(main(), timeout=40)


def test_a_new_leader_resubmitting_creates_nothing_new(pg_cluster: PostgreSQL, pg_schema: str):
    """The old leader queued an alarm's transitions and escalated it; the new one re-submits the same events (they
    were not marked dispatched in the store) and checks escalations: no row, no escalation, no clock moved back."""
    dead = "http://127.0.0.1:9/hook"  # nothing is started: rows only
    routes = [{"name": "flood", "targets": ["ops"], "escalate_after_s": 600, "escalate_to": ["director"]}]
    cfg = notify_config([hook("ops", dead), hook("director", dead)], routes=routes)

    async def main() -> None:
        old = Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, "hub-a"))
        new = Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, "hub-b"))
        try:
            created = make_alarm(at=T0)
            up, t = apply_condition(
                created, created.rule, created.subject, Condition(active=True, severity=Severity.CRITICAL, level=3),
                T0.replace(hour=4),
            )  # fmt: skip
            assert up is not None and t is Transition.ESCALATED
            events = [(created, Transition.CREATED), (up, Transition.ESCALATED)]
            assert [old.submit(a, tr, now=T0) for a, tr in events] == [1, 1]
            late = T0.replace(hour=5)  # 1 h after the escalation at 04:00: the director is due
            assert old.check_escalations([up], late) == 1
            before = [(r.target, r.notification_id) for r in old.deliveries()]
            # The new leader: the same events again, concurrently from two threads for good measure.
            barrier = threading.Barrier(2)

            def resubmit() -> int:
                barrier.wait()
                return sum(new.submit(a, tr, now=T0) for a, tr in events)

            assert await asyncio.gather(asyncio.to_thread(resubmit), asyncio.to_thread(resubmit)) == [0, 0]
            assert new.check_escalations([up], late) == 0
            assert old.check_escalations([up], late) == 0
            # Re-submitting the older CREATED did not restart the wait at the creation's revision.
            assert new.submit(created, Transition.CREATED, now=T0) == 0
            assert new.check_escalations([up], T0.replace(hour=6)) == 0
            assert [(r.target, r.notification_id) for r in new.deliveries()] == before
            assert len(before) == 3
        finally:
            await old.close()
            await new.close()

    run(main())


def test_a_claim_keeps_others_off_until_its_lease_runs_out(pg_cluster: PostgreSQL, pg_schema: str):
    """The lease at the queue's level: a second dispatcher sees the head busy and cannot claim it; after the lease
    it can; the first one's late outcome then neither retries the row nor fails it over the live claim, but its
    "sent" (the truth) is kept."""
    cfg = notify_config([hook("ops", "http://127.0.0.1:9/hook")])

    async def main() -> None:
        one = Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, "hub-1"))
        two = pg_queue(pg_cluster, pg_schema, "hub-2")
        q1 = one.queue
        try:
            assert one.submit(make_alarm(), Transition.CREATED) == 1
            row = q1.head("ops")
            assert row is not None and row.busy_s == 0
            assert q1.claim(row, 0.3)  # a lease of 0.3 + 0.5 s
            seen_by_two = two.head("ops")
            assert seen_by_two is not None and 0.5 < seen_by_two.busy_s <= 0.8
            assert not two.claim(seen_by_two, 10)
            assert q1.head("ops") == row  # not busy for its own claimer
            deadline = time.monotonic() + 5
            while (left := two.claims()[0][2]) is not None and left > 0:  # the lease running out, observed
                assert time.monotonic() < deadline
                await asyncio.sleep(min(left, 0.05))
            after = two.head("ops")
            assert after is not None and after.busy_s == 0 and two.claim(after, 10)
            q1.mark_retry(row.id, 1, time.time(), "late failure")
            q1.mark_done(row.id, "failed", "late final failure", True)
            (only,) = one.deliveries()
            assert (only.status, only.attempts, only.last_error) == ("pending", 0, None)
            assert two.claims()[0][1] == "hub-2"
            q1.mark_done(row.id, SENT, None, True)
            (only,) = one.deliveries()
            assert (only.status, only.attempts) == (SENT, 1) and two.claims() == []
            # A claim on a row as it was before someone else's attempt (attempts moved on) is refused too.
            assert one.submit(make_alarm(subject="s2"), Transition.CREATED) == 1
            stale = two.head("ops")
            assert stale is not None and two.claim(stale, 10)
            two.mark_retry(stale.id, 1, time.time(), "503")
            assert not q1.claim(stale, 10)
        finally:
            await one.close()
            two.close()

    run(main())


def test_closing_releases_the_claims_of_abandoned_attempts(pg_cluster: PostgreSQL, pg_schema: str):
    """A clean stop (unlike a kill) gives its rows back at once: the next hub does not wait for the lease."""

    async def main() -> None:
        stub = await HttpStub(hang=True).start()
        cfg = notify_config([hook("ops", stub.url(), timeout_s=30)])  # a lease of a minute
        first = Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, "hub-1"))
        await first.start()
        try:
            first.submit(make_alarm(), Transition.CREATED)
            await stub.next_request()
            assert isinstance(first.queue, PgQueue) and first.queue.claims()[0][1] == "hub-1"
        finally:
            await first.close()
        stub.release()
        second = Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, "hub-2"))
        await second.start()
        try:
            began = time.monotonic()
            await stub.next_request(timeout=5)
            assert time.monotonic() - began < 2
            assert await second.drain(timeout=5)
        finally:
            await second.close()
            await stub.stop()

    run(main())


def test_the_only_sender_releases_a_dead_senders_claims_at_start(pg_cluster: PostgreSQL, pg_schema: str):
    """A new cluster leader's queue gives back the claims a dead leader left (release_others), so its targets do
    not wait out the dead one's lease; its own claims and rows already decided are left alone."""
    cfg = notify_config([hook("ops", "http://127.0.0.1:9/hook", timeout_s=30)])  # a lease of a minute

    async def main() -> None:
        dead = Dispatcher(cfg, queue=pg_queue(pg_cluster, pg_schema, "hub-1"))
        successor = pg_queue(pg_cluster, pg_schema, "hub-2")
        try:
            for subject in ("s1", "s2"):
                assert dead.submit(make_alarm(subject=subject), Transition.CREATED) == 1
            row = dead.queue.head("ops")
            assert row is not None and dead.queue.claim(row, 30)  # then the hub dies: never closed, never decided
            waiting = successor.head("ops")
            assert waiting is not None and waiting.busy_s > 30  # without a release: a minute's wait
            assert successor.release_others() == 1
            free = successor.head("ops")
            assert free is not None and free.id == row.id and free.busy_s == 0 and successor.claim(free, 30)
            assert successor.release_others() == 0, "its own claim is kept"
            assert successor.claims()[0][1] == "hub-2"
        finally:
            successor.close()
            dead.queue.close()

    run(main())


def test_the_queue_is_chosen_by_the_constructor(tmp_path, pg_cluster: PostgreSQL) -> None:
    cfg = notify_config([hook("ops", "http://127.0.0.1:9/hook")])
    d = Dispatcher(cfg, tmp_path / "notify.db")
    assert isinstance(d.queue, SqliteQueue) and d.queue.db_path == tmp_path / "notify.db"
    with pytest.raises(ValueError, match="not both"):
        Dispatcher(cfg)
    q = PgQueue(pg_cluster.dsn, schema=f"test_{uuid.uuid4().hex[:12]}")
    try:
        with pytest.raises(ValueError, match="not both"):
            Dispatcher(cfg, tmp_path / "notify.db", queue=q)
        assert q.owner.startswith("dispatcher-") and q.owner != PgQueue(pg_cluster.dsn, schema=q.schema).owner
    finally:
        q.close()
