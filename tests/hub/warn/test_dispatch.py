"""Public warnings from alarm to recipients: policies pick who and how, officers approve what must be approved,
each person gets each alarm change once per channel (resubmitted, restarted, crashed mid-send), failures are retried
or failed with a reason, and a crash's ambiguous sends wait for the provider's delivery report before any resend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from hub.alerts.alarm import Alarm, AlarmState, Transition
from hub.alerts.rules.severity import Severity
from hub.feeds.units import load_units
from hub.warn.channels import Channel, ChannelConfig, ChannelError, Receipt
from hub.warn.config import WarningsConfig
from hub.warn.message import WarningMessage
from hub.warn.policy import Policy, QuietHours, release_time
from hub.warn.recipients import RecipientList, parse_recipients
from hub.warn.service import PublicWarnings

T0 = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
UNITS = load_units()


# The shipped commune table is a sample: Hà Nội's. Two of its communes, and a recipient registered for a whole other
# province (Huế, 46) who must hear nothing of them.
COMMUNES = sorted(u.code for u in UNITS.current.values() if u.province_code == "01" and len(u.code) == 5)[:2]
OTHER = "46"


class FakeConfig(ChannelConfig):
    type: Literal["fake"] = "fake"
    address_field: ClassVar[str] = "phone"


class FakeChannel(Channel):
    """Records what it is given; a script of outcomes per message id (an exception to raise) drives failures."""

    def __init__(self, config: ChannelConfig, *, reports: bool = False) -> None:
        super().__init__(config)
        self._reports = reports
        self.sent: list[WarningMessage] = []
        self.fail: dict[str, list[Exception]] = {}
        self.gate: asyncio.Event | None = None  # when set, sends wait for it (a send in flight at a crash)
        self.arrived = asyncio.Event()

    async def send(self, message: WarningMessage) -> Receipt:
        if self.gate is not None:
            await self.gate.wait()
        script = self.fail.get(message.id)
        if script:
            raise script.pop(0)
        self.sent.append(message)
        self.arrived.set()
        return Receipt("sent" if self._reports else "delivered", provider_id=f"p-{len(self.sent)}")

    @property
    def reports(self) -> bool:
        return self._reports


def recipients(n_per_commune: int = 3) -> RecipientList:
    lines = ["id,name,role,admin_code,phone"]
    k = 0
    for code in [*COMMUNES, OTHER]:
        for _ in range(n_per_commune):
            k += 1
            lines.append(f"r{k},Người {k},resident,{code},09{k:08d}")
    lines.append(f"off1,Cán bộ xã,commune_official,{COMMUNES[0]},0912345678")
    out = parse_recipients("\n".join(lines), UNITS)
    assert not out.rejected, out.rejected
    return out


def alarm(area: str | None = COMMUNES[0], severity: Severity = Severity.MAJOR, level: int = 3, **kw: Any) -> Alarm:
    return Alarm(
        id="a1",
        rule=kw.pop("rule", "flood_level"),
        subject="huong-kim-long",
        area=area,
        severity=severity,
        state=kw.pop("state", AlarmState.ACTIVE_UNACK),
        level=level,
        value=3.62,
        message="Sông Hương tại Kim Long: 3.62 m, trên BĐ3",
        started_at=T0,
        updated_at=kw.pop("updated_at", T0),
        revision=kw.pop("revision", 0),
        peak_severity=severity,
        peak_level=level,
        **kw,
    )


def config(*policies: Policy, **kw: Any) -> WarningsConfig:
    return WarningsConfig(
        channels=[FakeConfig(name="sms", rate_limit_per_s=1000.0)],
        policies=list(policies),
        retry_initial_s=0.05,
        retry_max_s=0.2,
        **kw,
    )


AUTO = Policy(name="bd3", rules=["flood_level"], min_level=3, roles=["resident"], channels=["sms"], approval="auto")
OFFICER = Policy(name="rain", rules=["heavy_rain"], roles=["resident"], channels=["sms"], approval="officer")


async def until(cond: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def running(service: PublicWarnings, body: Callable[[], Awaitable[None]]) -> None:
    await service.start()
    try:
        await body()
    finally:
        await service.close()


def test_policies_match_by_rule_level_area_and_transition() -> None:
    a = alarm()
    assert AUTO.matches(a, Transition.CREATED) and not AUTO.matches(a, Transition.UPDATED)
    assert not AUTO.matches(alarm(level=2, severity=Severity.MINOR), Transition.CREATED)
    # The end of a BĐ3 warning goes to the same people, judged on the alarm's peak, not its level at the clear.
    cleared = alarm(level=1, severity=Severity.WARNING, state=AlarmState.CLEARED_UNACK).model_copy(
        update={"peak_level": 3, "peak_severity": Severity.MAJOR}
    )
    assert AUTO.matches(cleared, Transition.CLEARED)
    only_hue = AUTO.model_copy(update={"areas": ["46"]})
    assert not only_hue.matches(a, Transition.CREATED) and only_hue.matches(alarm(area="46123"), Transition.CREATED)
    assert not AUTO.matches(alarm(area=None), Transition.CREATED)  # no area: nobody to tell


def test_quiet_hours_hold_all_but_severe_warnings_until_morning() -> None:
    p = AUTO.model_copy(update={"quiet_hours": QuietHours(start=time(22), end=time(6), unless_severity=Severity.MAJOR)})
    night = datetime(2026, 10, 28, 17, 30, tzinfo=UTC)  # 00:30 local
    assert release_time(p, Severity.MINOR, night) == datetime(2026, 10, 28, 23, 0, tzinfo=UTC)  # 06:00 local
    assert release_time(p, Severity.MAJOR, night) == night
    evening = datetime(2026, 10, 28, 15, 30, tzinfo=UTC)  # 22:30 local: held until 06:00 the next day
    assert release_time(p, Severity.MINOR, evening) == datetime(2026, 10, 28, 23, 0, tzinfo=UTC)
    assert release_time(p, Severity.MINOR, T0) == T0  # 10:00 local


def test_recipient_lists_map_retired_codes_and_refuse_bad_rows_with_their_line() -> None:
    moved = [(c, news) for (_, c), news in UNITS.successors.items() if len(c) == 5 and news != [c]]
    retired = next(c for c, news in moved if len(news) == 1)
    split = next((c for c, news in moved if len(news) > 1), None)
    text = "\n".join(
        [
            "id,name,role,admin_code,phone,node_id",
            f"a,A,resident,{COMMUNES[0]},0905 123 456,",
            f"b,B,resident,{retired},+84 91 234 5678,",
            f"c,C,resident,{COMMUNES[0]},0241234567,",  # a Hà Nội landline
            f"a,A again,resident,{COMMUNES[0]},0905123457,",
            f"d,Loa,loudspeaker,{COMMUNES[0]},,",
            "e,E,resident,123,0905123458,",
            f"f,F,mayor,{COMMUNES[0]},0905123459,",
            *([f"g,G,resident,{split},0905123450,"] if split else []),
        ]
    )
    out = parse_recipients(text, UNITS)
    assert [r.id for r in out.recipients] == ["a", "b"]
    assert out.recipients[0].phone == "+84905123456" and out.recipients[1].mapped_from == retired
    assert out.mapped == 1
    reasons = dict(out.rejected)
    assert reasons[4].startswith("phone:") and reasons[5] == "id a repeats line 2"
    assert "needs node_id" in reasons[6] and "district" in reasons[7] and reasons[8].startswith("role:")
    if split:
        assert "split" in reasons[9]


def test_an_automatic_policy_reaches_each_resident_of_the_commune_once(tmp_path: Path) -> None:
    chan = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))
    svc = PublicWarnings(config(AUTO), tmp_path / "w.db", recipients(), channels={"sms": chan})

    async def body() -> None:
        a = alarm()
        assert svc.submit(a, Transition.CREATED, T0) == ["a1.0.created/bd3"]
        svc.submit(a, Transition.CREATED, T0)  # the engine redispatching after a crash: nothing new
        await until(lambda: svc.outbox.counts().get("delivered", 0) == 3, "three deliveries")
        assert sorted(m.recipient_id for m in chan.sent) == ["r1", "r2", "r3"]  # not the official, not commune 2
        m = chan.sent[0]
        assert m.address.startswith("+849") and m.text_vi.startswith("[CẢNH BÁO LŨ] Sông Hương tại Kim Long")
        assert "10:00 28/10" in m.text_vi and m.id.startswith("a1.0.created/r") and m.hazard == "flood"

    asyncio.run(running(svc, body))


def test_a_province_wide_alarm_reaches_every_commune_of_the_province(tmp_path: Path) -> None:
    chan = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))
    svc = PublicWarnings(config(AUTO), tmp_path / "w.db", recipients(), channels={"sms": chan})

    async def body() -> None:
        svc.submit(alarm(area="01"), Transition.CREATED, T0)
        await until(lambda: len(chan.sent) == 6, "six deliveries")
        assert {m.area for m in chan.sent} == {"01"} and "r7" not in {m.recipient_id for m in chan.sent}

    asyncio.run(running(svc, body))


def test_an_officer_approves_or_rejects_and_the_end_follows_what_went_out(tmp_path: Path) -> None:
    chan = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))
    svc = PublicWarnings(config(OFFICER), tmp_path / "w.db", recipients(1), channels={"sms": chan})

    async def body() -> None:
        rain = alarm(rule="heavy_rain", level=2, severity=Severity.MINOR)
        [first] = svc.submit(rain, Transition.CREATED, T0)
        assert svc.outbox.batch(first)["state"] == "awaiting_approval"  # type: ignore[index]
        # It worsens before anyone decided: the officer decides on the newest.
        worse = rain.model_copy(update={"revision": 1, "level": 3})
        [second] = svc.submit(worse, Transition.ESCALATED, T0 + timedelta(minutes=5))
        assert svc.outbox.batch(first)["state"] == "superseded"  # type: ignore[index]
        with pytest.raises(ValueError, match="superseded"):
            svc.approve(first, "officer-1")
        svc.approve(second, "officer-1", "xác nhận")
        await until(lambda: len(chan.sent) == 1, "the approved warning")
        cleared = worse.model_copy(update={"revision": 2, "state": AlarmState.CLEARED_UNACK, "cleared_at": T0})
        [end] = svc.submit(cleared, Transition.CLEARED, T0 + timedelta(hours=1))
        assert svc.outbox.batch(end)["state"] == "approved"  # the warned are told it is over without waiting
        await until(lambda: len(chan.sent) == 2, "the end of the warning")
        assert chan.sent[1].text_vi.startswith("[HẾT CẢNH BÁO MƯA LỚN]")
        audit = svc.outbox.audit_log()
        assert [(a["actor"], a["action"], a["subject"]) for a in audit] == [("officer-1", "approve", second)]

        # Another alarm rejected: nothing goes out, and its end has nothing to end.
        other = rain.model_copy(update={"id": "a2"})
        [b] = svc.submit(other, Transition.CREATED, T0)
        svc.reject(b, "officer-2", "nhầm")
        gone = other.model_copy(update={"revision": 1, "state": AlarmState.CLEARED_UNACK, "cleared_at": T0})
        [e] = svc.submit(gone, Transition.CLEARED, T0)
        assert svc.outbox.batch(e)["state"] == "superseded"  # type: ignore[index]
        assert len(chan.sent) == 2

    asyncio.run(running(svc, body))


def test_retryable_failures_are_retried_and_final_ones_fail_with_their_reason(tmp_path: Path) -> None:
    chan = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))
    chan.fail["a1.0.created/r1/sms"] = [ChannelError("503 from gateway", retryable=True)] * 2
    chan.fail["a1.0.created/r2/sms"] = [ChannelError("invalid number", retryable=False)]
    svc = PublicWarnings(config(AUTO), tmp_path / "w.db", recipients(), channels={"sms": chan})

    async def body() -> None:
        svc.submit(alarm(), Transition.CREATED)  # queued now: a message queued longer than max_age_s ago gives up
        await until(lambda: svc.outbox.counts() == {"delivered": 2, "failed": 1}, "two delivered, one failed")
        r1 = svc.outbox.messages(id="a1.0.created/r1/sms")[0]
        r2 = svc.outbox.messages(id="a1.0.created/r2/sms")[0]
        assert r1["attempts"] == 3 and r1["last_error"] == "503 from gateway"
        assert r2["attempts"] == 1 and r2["last_error"] == "invalid number"
        assert svc.counters["retried"] == 2 and svc.counters["failed"] == 1

    asyncio.run(running(svc, body))


def test_a_restart_mid_fan_out_sends_each_remaining_message_once(tmp_path: Path) -> None:
    recips = recipients(40)
    cfg = config(AUTO)
    first = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))

    async def part_one() -> None:
        svc = PublicWarnings(cfg, tmp_path / "w.db", recips, channels={"sms": first})
        await svc.start()
        svc.submit(alarm(), Transition.CREATED, T0)
        await until(lambda: len(first.sent) >= 10, "some sent")
        await svc.close()  # the hub stops mid-fan-out

    asyncio.run(part_one())
    second = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))
    svc = PublicWarnings(cfg, tmp_path / "w.db", recips, channels={"sms": second})

    async def part_two() -> None:
        svc.submit(alarm(), Transition.CREATED, T0)  # the engine hands the change over again: nothing new
        await until(lambda: svc.outbox.counts().get("delivered", 0) == 40, "all forty")

    asyncio.run(running(svc, part_two))
    ids = [m.recipient_id for m in first.sent + second.sent]
    assert len(ids) == 40 and len(set(ids)) == 40


def test_a_send_cut_short_waits_for_the_report_before_it_is_resent(tmp_path: Path) -> None:
    cfg = config(AUTO, reconcile_s=0.5)
    db = tmp_path / "w.db"
    stuck = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0), reports=True)

    async def crash() -> None:
        svc = PublicWarnings(cfg, db, recipients(2), channels={"sms": stuck})
        stuck.gate = asyncio.Event()  # every send hangs: in flight when the hub dies
        await svc.start()
        svc.submit(alarm(), Transition.CREATED, T0)
        await until(lambda: svc.outbox.counts().get("sending", 0) == 2, "two in flight")
        # A SIGKILL: no close, no state written; the tasks just stop.
        for t in svc._tasks:
            t.cancel()

    asyncio.run(crash())
    after = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0), reports=True)
    svc = PublicWarnings(cfg, db, recipients(2), channels={"sms": after})

    assert svc.outbox.counts() == {"sending": 2}

    async def restart() -> None:
        assert svc.outbox.counts() == {"unknown": 2}  # started: waiting for reports, not resent
        # The gateway's report for one of them comes in: it had reached the gateway, so it is not sent again.
        assert svc.report("a1.0.created/r1/sms", "delivered", "1")
        await until(lambda: svc.outbox.counts() == {"delivered": 1, "sent": 1}, "the other resent after reconcile_s")
        assert [m.recipient_id for m in after.sent] == ["r2"]
        assert not svc.report("no-such-message", "delivered") and svc.counters["unmatched_reports"] == 1

    asyncio.run(running(svc, restart))


def test_a_public_warning_is_published_as_cap_once_per_change_and_its_end_cancels_it(tmp_path: Path) -> None:
    chan = FakeChannel(FakeConfig(name="sms", rate_limit_per_s=1000.0))
    twice = AUTO.model_copy(update={"name": "bd3-again"})  # two public policies: still one CAP message per change
    svc = PublicWarnings(config(AUTO, twice), tmp_path / "w.db", recipients(1), channels={"sms": chan})

    async def body() -> None:
        a = alarm()
        svc.submit(a, Transition.CREATED, T0)
        await until(lambda: len(svc.outbox.cap_active()) == 1, "the CAP alert")
        [active] = svc.outbox.cap_active()
        assert active["identifier"] == "a1.0.created" and active["msg_type"] == "Alert"
        xml = svc.outbox.cap("a1.0.created")
        assert xml is not None and b"<msgType>Alert</msgType>" in xml and b"<valueName>GSO</valueName>" in xml
        cleared = a.model_copy(
            update={"revision": 1, "state": AlarmState.CLEARED_UNACK, "cleared_at": T0 + timedelta(hours=2)}
        )
        svc.submit(cleared, Transition.CLEARED, T0 + timedelta(hours=2))
        await until(lambda: svc.outbox.cap("a1.1.cleared") is not None, "the CAP cancel")
        cancel = svc.outbox.cap("a1.1.cleared") or b""
        assert b"<msgType>Cancel</msgType>" in cancel and b",a1.0.created," in cancel  # references the alert
        assert svc.outbox.cap_active() == [] and svc.counters["cap_messages"] == 2

    asyncio.run(running(svc, body))


class NodeFakeConfig(ChannelConfig):
    type: Literal["fake_node"] = "fake_node"
    address_field: ClassVar[str] = "node_id"


def test_sirens_sound_and_stop_and_loudspeakers_play_the_policys_recording(tmp_path: Path) -> None:
    devices = parse_recipients(
        "\n".join(
            [
                "id,role,admin_code,node_id",
                f"siren-1,siren,{COMMUNES[0]},pole-01",
                f"loa-1,loudspeaker,{COMMUNES[0]},loa-01",
            ]
        ),
        UNITS,
    )
    policy = Policy(
        name="bd3-devices", rules=["flood_level"], roles=["siren", "loudspeaker"], channels=["node"],
        approval="auto", audio="canh-bao-lu-bd3.mp3",
    )  # fmt: skip
    cfg = WarningsConfig(channels=[NodeFakeConfig(name="node", rate_limit_per_s=1000.0)], policies=[policy])
    chan = FakeChannel(NodeFakeConfig(name="node", rate_limit_per_s=1000.0))
    svc = PublicWarnings(cfg, tmp_path / "w.db", devices, channels={"node": chan})

    async def body() -> None:
        a = alarm()
        svc.submit(a, Transition.CREATED, T0)
        await until(lambda: len(chan.sent) == 2, "siren and loudspeaker")
        by = {m.recipient_id: m for m in chan.sent}
        assert (by["siren-1"].address, by["siren-1"].siren, by["siren-1"].audio) == ("pole-01", "on", None)
        assert (by["loa-1"].address, by["loa-1"].siren, by["loa-1"].audio) == ("loa-01", None, "canh-bao-lu-bd3.mp3")
        svc.submit(a.model_copy(update={"revision": 1, "state": AlarmState.CLEARED_UNACK}), Transition.CLEARED, T0)
        await until(lambda: len(chan.sent) == 3, "the siren stopped")
        assert (chan.sent[2].recipient_id, chan.sent[2].siren) == ("siren-1", "off")  # no end recording: silent
        await until(lambda: svc.outbox.counts() == {"delivered": 3}, "three delivered")

    asyncio.run(running(svc, body))


def test_each_start_audits_who_was_added_removed_or_changed_and_which_policies(tmp_path: Path) -> None:
    import json

    from hub.warn.service import open_public_warnings

    csv = tmp_path / "recipients.csv"
    csv.write_text(
        f"id,role,admin_code,phone\na,resident,{COMMUNES[0]},0905000001\nb,resident,{COMMUNES[0]},0905000002\n"
    )
    cfg = config(AUTO).model_copy(update={"recipients": csv})
    first = open_public_warnings(cfg, tmp_path / "w.db", channels={"sms": FakeChannel(FakeConfig(name="sms"))})
    first.outbox.close()
    csv.write_text(
        f"id,role,admin_code,phone\na,resident,{COMMUNES[0]},0905000009\nc,resident,{COMMUNES[1]},0905000003\n"
    )
    second = open_public_warnings(
        config(AUTO, OFFICER).model_copy(update={"recipients": csv}),
        tmp_path / "w.db",
        channels={"sms": FakeChannel(FakeConfig(name="sms"))},
    )
    newest, oldest = (json.loads(e["detail"]) for e in second.outbox.audit_log()[:2])
    assert oldest["recipients_added_ids"] == ["a", "b"] and oldest["policies_added_ids"] == ["bd3"]
    assert newest["recipients"] == 2
    assert (newest["recipients_added_ids"], newest["recipients_removed_ids"]) == (["c"], ["b"])
    assert newest["recipients_changed_ids"] == ["a"]  # a new phone number
    assert newest["policies_added_ids"] == ["rain"] and "policies_changed" not in newest
    second.outbox.close()
