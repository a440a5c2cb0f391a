"""The dispatcher: durable queue, independent targets, retries, rate limit, routing, escalation.

Every target is a real local server; time for escalation is passed in, delivery time is real but short. Each test
runs on both queues (``new_queue``, conftest.py): one hub's SQLite file and PostgreSQL (a real cluster).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta
from typing import Any

import pytest

from hub.alerts.alarm import Condition, Transition, acknowledge, apply_condition
from hub.alerts.notify import Dispatcher, NotifyConfig
from hub.alerts.rules.severity import Severity
from testkit.localsvc import free_port
from tests.hub.alerts.notify.conftest import NewQueue
from tests.hub.alerts.notify.stubs import T0, VI_MESSAGE, Answer, HttpStub, SmtpSink, eventually, make_alarm, run

FAST = {"retry_initial_s": 0.05, "retry_max_s": 0.2}


@pytest.fixture(autouse=True)
def _secret(monkeypatch):
    monkeypatch.setenv("IOCGW_TEST_HOOK_SECRET", "s3cret")


def hook(name: str, url: str, **over: Any) -> dict[str, Any]:
    return {"type": "webhook", "name": name, "url": url, "secret": {"env": "IOCGW_TEST_HOOK_SECRET"}, **over}


def notify_config(targets: list[dict[str, Any]], routes: list[dict[str, Any]] | None = None, **over: Any):
    routes = routes if routes is not None else [{"targets": [t["name"] for t in targets]}]
    return NotifyConfig.model_validate({"targets": targets, "routes": routes, **FAST, **over})


def test_a_hanging_webhook_does_not_delay_email_or_the_caller(new_queue: NewQueue):
    sink = SmtpSink().start()

    async def main():
        stub = await HttpStub(hang=True).start()
        mail = {"type": "smtp", "name": "mail", "host": "127.0.0.1", "port": sink.port, "security": "none"}
        mail |= {"sender": "ioc@hanoi.example", "to": ["duty@hanoi.example"]}
        cfg = notify_config([hook("ops", stub.url(), timeout_s=5), mail])
        d = Dispatcher(cfg, queue=new_queue())
        await d.start()
        try:
            began = time.monotonic()
            assert d.submit(make_alarm(), Transition.CREATED) == 2
            assert time.monotonic() - began < 0.5  # only rows were written
            await stub.next_request(timeout=5)  # the webhook has the request and is not answering
            got = await sink.next_mail(timeout=3)  # while the webhook is still holding its request
            await eventually(lambda: d.stats()["mail"].sent == 1, what="the mail row marked sent")
            stats = d.stats()
            assert stats["ops"].pending == 1 and stats["ops"].sent == 0
        finally:
            await d.close()
            await stub.stop()
        return got

    try:
        mail = run(main())
    finally:
        sink.stop()
    assert VI_MESSAGE in mail.message().get_content()


def test_pending_deliveries_survive_a_restart(new_queue: NewQueue):
    port = free_port()
    cfg = notify_config([hook("ops", f"http://127.0.0.1:{port}/hook")])
    alarm = make_alarm()

    async def first_run():
        d = Dispatcher(cfg, queue=new_queue())
        await d.start()
        try:
            assert d.submit(alarm, Transition.CREATED) == 1
            assert d.submit(alarm, Transition.CREATED) == 0  # the same change again: already queued
            await eventually(lambda: d.stats()["ops"].retried >= 1, what="a failed attempt")
        finally:
            await d.close()

    async def second_run():
        stub = await HttpStub(port=port).start()
        d = Dispatcher(cfg, queue=new_queue())
        try:
            assert d.stats()["ops"].pending == 1
            await d.start()
            seen = await stub.next_request()
            assert await d.drain(timeout=5)
            assert d.stats()["ops"].sent == 1
            assert [r.status for r in d.deliveries()] == ["sent"]
        finally:
            await d.close()
            await stub.stop()
        return seen

    run(first_run())
    seen = run(second_run())
    assert seen.json()["alarm"]["id"] == alarm.id


def test_server_error_is_retried_with_the_same_id(new_queue: NewQueue):
    async def main():
        stub = await HttpStub(answers=[Answer(500), Answer(200)]).start()
        d = Dispatcher(notify_config([hook("ops", stub.url())]), queue=new_queue())
        await d.start()
        try:
            d.submit(make_alarm(), Transition.CREATED)
            first, second = await stub.next_request(), await stub.next_request()
            assert await d.drain(timeout=5)
            stats = d.stats()["ops"]
        finally:
            await d.close()
            await stub.stop()
        assert first.headers["X-Iocgw-Delivery"] == second.headers["X-Iocgw-Delivery"]
        assert (stats.sent, stats.retried, stats.failed, stats.pending) == (1, 1, 0, 0)

    run(main())


def test_too_many_requests_waits_as_retry_after_says(new_queue: NewQueue):
    async def main():
        stub = await HttpStub(answers=[Answer(429, headers={"Retry-After": "1"}), Answer(200)]).start()
        d = Dispatcher(notify_config([hook("ops", stub.url())]), queue=new_queue())
        await d.start()
        try:
            d.submit(make_alarm(), Transition.CREATED)
            first = await stub.next_request()
            second = await stub.next_request(timeout=5)
        finally:
            await d.close()
            await stub.stop()
        assert second.at - first.at >= 0.9  # not the 0.05 s backoff

    run(main())


def test_final_errors_and_expired_rows_are_failed_and_counted(new_queue: NewQueue):
    async def main():
        bad = await HttpStub(default=Answer(400, {"error": "schema"})).start()
        down = await HttpStub(default=Answer(503)).start()
        cfg = notify_config([hook("bad", bad.url()), hook("down", down.url())], max_age_s=0.4)
        d = Dispatcher(cfg, queue=new_queue())
        await d.start()
        try:
            d.submit(make_alarm(), Transition.CREATED)
            await eventually(lambda: d.stats()["bad"].failed == 1 and d.stats()["down"].failed == 1, what="failures")
            assert await d.drain(timeout=1)
            failed = {r.target: r for r in d.deliveries(status="failed")}
            stats = d.stats()
        finally:
            await d.close()
            await bad.stop()
            await down.stop()
        assert len(bad.seen) == 1 and "HTTP 400" in (failed["bad"].last_error or "")
        assert len(down.seen) >= 2 and "max_age_s" in (failed["down"].last_error or "")
        assert stats["down"].retried == len(down.seen) - 1 and stats["down"].pending == 0

    run(main())


def test_rate_limit_defers_rather_than_drops(new_queue: NewQueue):
    async def main():
        stub = await HttpStub().start()
        cfg = notify_config([hook("ops", stub.url(), rate_limit_per_min=600)], rate_limit_burst=1)  # 10 a second
        d = Dispatcher(cfg, queue=new_queue())
        await d.start()
        try:
            for i in range(5):
                d.submit(make_alarm(subject=f"station-{i}"), Transition.CREATED)
            arrivals = [await stub.next_request() for _ in range(5)]
            assert await d.drain(timeout=5)
            stats = d.stats()["ops"]
        finally:
            await d.close()
            await stub.stop()
        gaps = [b.at - a.at for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) >= 0.08 and arrivals[-1].at - arrivals[0].at >= 0.35
        assert [s.json()["alarm"]["subject"] for s in arrivals] == [f"station-{i}" for i in range(5)]  # in order
        assert (stats.sent, stats.failed) == (5, 0)

    run(main())


def test_routing_by_severity_rule_and_area_and_clears_reach_whoever_was_told(new_queue: NewQueue):
    dead = f"http://127.0.0.1:{free_port()}/hook"
    cfg = notify_config(
        [hook("ops", dead), hook("board", dead), hook("province", dead)],
        routes=[
            {"min_severity": "major", "targets": ["ops"]},
            {"rules": ["flood_level"], "targets": ["board"]},
            {"min_severity": "critical", "areas": ["01"], "targets": ["province"]},
        ],
    )

    async def main():
        d = Dispatcher(cfg, queue=new_queue())  # not started: rows only, nothing is sent
        try:
            pending = lambda: {t: s.pending for t, s in d.stats().items()}  # noqa: E731
            minor = make_alarm(Severity.MINOR)
            assert d.submit(minor, Transition.CREATED) == 1 and pending() == {"ops": 0, "board": 1, "province": 0}
            assert d.submit(make_alarm(Severity.MAJOR, rule="heavy_rain"), Transition.CREATED) == 1
            assert pending() == {"ops": 1, "board": 1, "province": 0}
            assert d.submit(make_alarm(Severity.CRITICAL, area="01001"), Transition.CREATED) == 3
            assert d.submit(make_alarm(Severity.CRITICAL, area="79"), Transition.CREATED) == 2
            assert d.submit(minor, Transition.UPDATED) == 0 and d.submit(minor, Transition.ACKNOWLEDGED) == 0
            # MINOR -> MAJOR tells ops; back to MINOR and cleared: ops hears the clear though MINOR is below it.
            up, t = apply_condition(minor, minor.rule, minor.subject, cond(Severity.MAJOR, 3), T0 + timedelta(1))
            assert t is Transition.ESCALATED and d.submit(up, t) == 2
            down, t = apply_condition(up, up.rule, up.subject, cond(Severity.MINOR, 1), T0 + timedelta(2))
            assert t is Transition.DEESCALATED and d.submit(down, t) == 0
            gone, t = apply_condition(down, down.rule, down.subject, Condition(active=False), T0 + timedelta(3))
            assert t is Transition.CLEARED and d.submit(gone, t) == 2
            assert {r.target for r in d.deliveries() if r.notification_id.endswith(".cleared")} == {"ops", "board"}
        finally:
            await d.close()

    run(main())


def cond(severity: Severity, level: int) -> Condition:
    return Condition(active=True, severity=severity, level=level, value=11.2, message=VI_MESSAGE)


def test_escalation_fires_once_per_revision_after_the_delay(new_queue: NewQueue):
    async def main():
        stub = await HttpStub().start()
        cfg = notify_config(
            [hook("ops", stub.url("/ops")), hook("director", stub.url("/director"))],
            routes=[{"name": "flood", "targets": ["ops"], "escalate_after_s": 600, "escalate_to": ["director"]}],
        )
        d = Dispatcher(cfg, queue=new_queue())
        await d.start()
        try:
            alarm = make_alarm()
            d.submit(alarm, Transition.CREATED, now=T0)
            at = lambda s: T0 + timedelta(seconds=s)  # noqa: E731
            assert d.check_escalations([alarm], at(599)) == 0
            assert d.check_escalations([alarm], at(600)) == 1
            assert d.check_escalations([alarm], at(700)) == 0  # once
            acked, _ = acknowledge(alarm, "officer-1", None, at(800))
            assert d.check_escalations([acked], at(5000)) == 0  # acknowledged: nobody else needs waking
            up, t = apply_condition(acked, alarm.rule, alarm.subject, cond(Severity.CRITICAL, 3), at(1000))
            assert t is Transition.ESCALATED
            d.submit(up, t, now=at(1000))
            assert d.check_escalations([up], at(1599)) == 0  # the wait restarts at the escalation
            assert d.check_escalations([up], at(1600)) == 1
            assert d.check_escalations([up], at(9999)) == 0
            gone, t = apply_condition(up, up.rule, up.subject, Condition(active=False), at(2000))
            assert d.submit(gone, t) == 2  # the director was told, so hears the clear too
            await eventually(lambda: len(stub.seen) == 6, what="six deliveries")
            assert await d.drain(timeout=5)
        finally:
            await d.close()
            await stub.stop()
        return stub.seen

    seen = run(main())
    director = [s.json() for s in seen if s.path == "/director"]
    assert [(n["transition"], n["escalation"]) for n in director] == [
        ("created", True),
        ("escalated", True),
        ("cleared", False),
    ]
    assert director[1]["alarm"]["severity"] == "critical"
    assert len({n["id"] for n in director}) == 3


def test_submit_from_another_thread_wakes_the_worker(new_queue: NewQueue):
    async def main():
        stub = await HttpStub().start()
        d = Dispatcher(notify_config([hook("ops", stub.url())]), queue=new_queue())
        await d.start()
        try:
            await asyncio.sleep(0)  # let the worker reach its idle wait
            assert await asyncio.to_thread(d.submit, make_alarm(), Transition.CREATED) == 1
            seen = await stub.next_request(timeout=2)
            lines = d.metric_lines()
            await d.drain(timeout=2)
        finally:
            await d.close()
            await stub.stop()
        assert seen.json()["transition"] == "created"
        assert "# TYPE iocgw_hub_notify_pending gauge" in lines

    run(main())


def test_a_target_that_cannot_start_does_not_stop_the_others(new_queue: NewQueue, monkeypatch):
    monkeypatch.delenv("IOCGW_TEST_HOOK_SECRET")
    monkeypatch.setenv("OTHER_SECRET", "x")

    async def main():
        stub = await HttpStub().start()
        broken = hook("broken", stub.url("/broken"))  # its secret's variable is not set: start() fails
        fine = hook("fine", stub.url("/fine"), secret={"env": "OTHER_SECRET"})
        d = Dispatcher(notify_config([broken, fine]), queue=new_queue())
        await d.start()
        try:
            d.submit(make_alarm(), Transition.CREATED)
            seen = await stub.next_request()
            stats = d.stats()
        finally:
            await d.close()
            await stub.stop()
        assert seen.path == "/fine" and stats["broken"].pending == 1

    run(main())
