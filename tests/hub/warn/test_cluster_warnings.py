"""Public warnings in cluster mode: several hubs' ``PublicWarnings`` on one ``PgOutbox`` (real PostgreSQL), the
workers on one of them at a time, a real Telegram channel against a local Bot API server. The workers move from one
hub to another mid-fan-out and every message is delivered exactly once; a leader that dies mid-send leaves its
messages to the next one's recovery; an officer approves on a hub without workers and the leader sends it."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.alerts.alarm import Transition
from hub.secret import Secret
from hub.warn.channels.telegram import TelegramConfig
from hub.warn.config import WarningsConfig
from hub.warn.pg_outbox import PgOutbox
from hub.warn.policy import Policy
from hub.warn.recipients import RecipientList, parse_recipients
from hub.warn.service import PublicWarnings
from testkit.localsvc import PostgreSQL
from tests.hub.warn.fake_chat_apis import FakeTelegram, Forced, run
from tests.hub.warn.test_dispatch import COMMUNES, T0, UNITS, alarm

TOKEN = "7012345678:AAH-test_token-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOCGW_TEST_TG_TOKEN", TOKEN)


def residents(n: int) -> RecipientList:
    rows = ["id,role,admin_code,telegram_chat_id"] + [f"r{k},resident,{COMMUNES[0]},{100000 + k}" for k in range(n)]
    out = parse_recipients("\n".join(rows), UNITS)
    assert not out.rejected, out.rejected
    return out


def settings(fake: FakeTelegram, approval: str = "auto", rate: float = 40.0) -> WarningsConfig:
    tg = TelegramConfig(
        name="tg", token=Secret(env="IOCGW_TEST_TG_TOKEN"), base_url=fake.base_url, rate_limit_per_s=rate, timeout_s=5
    )
    policy = Policy(
        name="bd3", rules=["flood_level"], min_level=3, roles=["resident"], channels=["tg"], approval=approval
    )
    return WarningsConfig(channels=[tg], policies=[policy], concurrency=2, retry_initial_s=0.05, retry_max_s=0.2)


def hub(cfg: WarningsConfig, dsn: str, schema: str, recipients: RecipientList, name: str) -> PublicWarnings:
    """One hub's service on the shared outbox (its own connection), channels built from the config."""
    return PublicWarnings(cfg, PgOutbox(dsn, schema=schema, owner=name, poll_s=0.1), recipients)


async def until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """For a state in PostgreSQL, which no event announces here: looked at every 20 ms."""

    async def poll() -> None:
        while not await asyncio.to_thread(cond):
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def chats(fake: FakeTelegram) -> Counter[str]:
    return Counter(str(d["chat_id"]) for d in fake.delivered)


def test_the_workers_move_to_another_hub_mid_fan_out_and_each_message_goes_out_once(
    pg_cluster: PostgreSQL, pg_schema: str
) -> None:
    n = 40
    recips = residents(n)

    async def body() -> None:
        fake = await FakeTelegram(TOKEN).start()
        cfg = settings(fake, rate=20.0)  # a burst of 20, then one per 50 ms: A stops with messages still queued
        first = hub(cfg, pg_cluster.dsn, pg_schema, recips, "hub-a")
        second = hub(cfg, pg_cluster.dsn, pg_schema, recips, "hub-b")
        await first.start(workers=False)
        await second.start(workers=False)
        assert not first.workers_running and not second.workers_running
        await first.start_workers()  # hub A leads
        [bid] = await asyncio.to_thread(first.submit, alarm(), Transition.CREATED, T0)
        await fake.wait_for(lambda: len(fake.delivered) >= 10)
        await first.stop_workers()  # A loses the leadership: its senders finish what they had, then stop
        assert not first.workers_running
        left = await asyncio.to_thread(second.outbox.counts)
        assert "sending" not in left and left.get("delivered", 0) >= 10 and left.get("queued", 0) > 0, left
        sent_by_first = len(fake.delivered)

        await second.start_workers()  # hub B leads: nothing was cut short, nothing to recover
        await until(lambda: second.outbox.counts() == {"delivered": n}, "all delivered")
        assert len(fake.delivered) == n and set(chats(fake).values()) == {1}  # each resident once
        assert len(fake.delivered) > sent_by_first  # B sent the rest
        assert not [a for a in await asyncio.to_thread(second.outbox.audit_log) if a["action"] == "recover"]
        view = await asyncio.to_thread(lambda: first.batch_view(first.outbox.batch(bid) or {}))
        assert view["state"] == "expanded" and view["messages"] == n and view["counts"] == {"delivered": n}
        # A resubmit by the new leader (the engine redispatching) adds nothing; a second start is a no-op.
        assert await asyncio.to_thread(second.submit, alarm(), Transition.CREATED, T0) == [bid]
        await second.start_workers()
        await second.close()
        await first.close()
        assert fake.violations == []
        await fake.stop()

    run(body(), timeout=60)


def test_a_leader_that_dies_mid_send_leaves_its_messages_to_the_next_leaders_recovery(
    pg_cluster: PostgreSQL, pg_schema: str
) -> None:
    n = 6
    recips = residents(n)

    async def body() -> None:
        fake = await FakeTelegram(TOKEN).start()
        fake.forced = [Forced(hang=True), Forced(hang=True)]  # the first two sends never answered: in flight
        cfg = settings(fake)
        dying = hub(cfg, pg_cluster.dsn, pg_schema, recips, "hub-a")
        standby = hub(cfg, pg_cluster.dsn, pg_schema, recips, "hub-b")
        await standby.start(workers=False)
        await dying.start()
        await asyncio.to_thread(dying.submit, alarm(), Transition.CREATED, T0)
        await until(lambda: standby.outbox.counts().get("sending", 0) == 2, "two in flight")
        await fake.wait_for(lambda: len(fake.received) == 2)
        # A SIGKILL: nothing recorded, the tasks just stop, the sockets and the connection go.
        for t in dying._tasks:
            t.cancel()
        await asyncio.gather(*dying._tasks, return_exceptions=True)
        await dying.channels["tg"].close()
        await asyncio.to_thread(dying.outbox.close)
        fake.release()  # the provider never took them (its answer went to nobody)
        assert dict(await asyncio.to_thread(standby.outbox.claims)).keys() == {
            m["id"] for m in await asyncio.to_thread(standby.outbox.messages, state="sending")
        }

        await standby.start_workers()  # the next leader: Telegram sends no reports, so both are sent again
        await until(lambda: standby.outbox.counts() == {"delivered": n}, "all delivered")
        assert sorted(chats(fake)) == [str(100000 + k) for k in range(n)] and set(chats(fake).values()) == {1}
        recover = [a for a in await asyncio.to_thread(standby.outbox.audit_log) if a["action"] == "recover"]
        assert [a["detail"] for a in recover] == ['{"awaiting_report": 0, "requeued": 2}']
        await standby.close()
        await fake.stop()

    run(body(), timeout=60)


def test_an_officer_approves_on_a_hub_without_workers_and_the_leader_sends_it(
    pg_cluster: PostgreSQL, pg_schema: str
) -> None:
    n = 3
    recips = residents(n)

    async def body() -> None:
        fake = await FakeTelegram(TOKEN).start()
        cfg = settings(fake, approval="officer")
        leader = hub(cfg, pg_cluster.dsn, pg_schema, recips, "hub-a")
        console = hub(cfg, pg_cluster.dsn, pg_schema, recips, "hub-b")
        await leader.start()
        await console.start(workers=False)
        [bid] = await asyncio.to_thread(leader.submit, alarm(), Transition.CREATED, T0)
        waiting = await asyncio.to_thread(console.outbox.batches, "awaiting_approval")
        assert [b["id"] for b in waiting] == [bid]  # the other hub's console lists the leader's batch
        decided = await asyncio.to_thread(console.approve, bid, "officer-b", "đã xác minh")
        assert decided["state"] == "approved" and decided["decided_by"] == "officer-b"
        # The console's poke wakes nobody on the leader: its expander finds the approval at its next look.
        await fake.wait_for(lambda: len(fake.delivered) == n)
        await until(lambda: leader.outbox.counts() == {"delivered": n}, "recorded")
        assert await asyncio.to_thread(leader.outbox.cap_active) != []  # the leader published it; every hub's feed
        assert b"<feed" in await asyncio.to_thread(console.atom, "http://hub-b.example/public/alerts.atom")
        with pytest.raises(ValueError, match="is expanded, not awaiting approval"):
            await asyncio.to_thread(leader.reject, bid, "officer-a")
        await console.close()
        await leader.close()
        assert fake.violations == []
        await fake.stop()

    run(body(), timeout=60)


def test_the_leaders_workers_ride_out_a_postgresql_killed_and_restarted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = 30
    recips = residents(n)
    pg = PostgreSQL(tmp_path / "pg")  # its own: killed under the hub, not under the other tests
    pg.start()

    async def body() -> None:
        fake = await FakeTelegram(TOKEN).start()
        leader = hub(settings(fake, rate=20.0), pg.dsn, "iocgw_warnings", recips, "hub-a")
        await leader.start()
        await asyncio.to_thread(leader.submit, alarm(), Transition.CREATED, T0)
        await fake.wait_for(lambda: len(fake.delivered) >= 5)
        await asyncio.to_thread(pg.kill)
        await until(lambda: any(r.name == "hub.warn.service" for r in caplog.records), "the workers meeting it")
        await asyncio.to_thread(pg.start)
        # Nothing restarted the workers: they claim again, and what they sent meanwhile is recorded once.
        try:
            await until(lambda: leader.outbox.counts() == {"delivered": n}, "all delivered", timeout=30)
        except AssertionError:
            left = [m for m in leader.outbox.messages() if m["state"] != "delivered"]
            raise AssertionError(f"not delivered: {left}") from None
        assert len(fake.delivered) == n and set(chats(fake).values()) == {1}
        await leader.close()
        await fake.stop()

    try:
        with caplog.at_level(logging.WARNING, logger="hub.warn.service"):
            run(body(), timeout=60)
    finally:
        pg.kill()
