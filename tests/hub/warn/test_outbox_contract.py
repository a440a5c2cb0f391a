"""The public warnings' outbox contract, run against both stores: ``Outbox`` (SQLite, one hub) and ``PgOutbox``
(PostgreSQL, shared by a cluster's hubs). Then what sharing adds: two hubs claiming at once never get the same
message, a batch (and its messages) added by two hubs exists once, two officers deciding one batch: one wins, and
what was committed survives PostgreSQL being SIGKILLed and restarted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hub.warn.outbox import Outbox, OutboxLike
from hub.warn.pg_outbox import OutboxUnavailable, PgOutbox
from testkit.localsvc import PostgreSQL

T = 1_000_000.0


@pytest.fixture(params=["sqlite", "postgresql"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str) -> Iterator[OutboxLike]:
    box: OutboxLike
    if request.param == "sqlite":
        box = Outbox(tmp_path / "warnings.db")
    else:
        box = PgOutbox(request.getfixturevalue("pg_cluster").dsn, schema=pg_schema)
    yield box
    box.close()


def batch(bid: str, *, alarm_id: str = "a1", policy: str = "p", state: str = "approved", at: float = T) -> dict:
    return {
        "id": bid,
        "alarm_id": alarm_id,
        "policy": policy,
        "transition": "created",
        "area": "01",
        "severity": "major",
        "alarm": json.dumps({"id": alarm_id}),
        "state": state,
        "approval": "auto" if state == "approved" else "officer",
        "release_at": at,
        "created_at": at,
    }


def message(mid: str, *, channel: str = "sms", next_at: float = T, created_at: float = T) -> dict:
    return {
        "id": mid,
        "channel": channel,
        "recipient_id": mid.split("/")[-1],
        "address": "+84900000000",
        "body": json.dumps({"id": mid}),
        "next_at": next_at,
        "created_at": created_at,
    }


def fill(box: OutboxLike, n: int, bid: str = "b1", **kw: Any) -> list[str]:
    box.add_batch(batch(bid), supersede_pending=False)
    rows = [message(f"{bid}/r{k:04d}", **kw) for k in range(n)]
    box.add_messages(bid, rows, done=True)
    return [r["id"] for r in rows]


# -- the contract, on both ----------------------------------------------------------------------------------------
def test_a_batch_is_stored_once_and_a_newer_one_supersedes_the_pending(outbox: OutboxLike) -> None:
    assert outbox.add_batch(batch("a1.0.created/p", state="awaiting_approval"), supersede_pending=True)
    assert not outbox.add_batch(batch("a1.0.created/p", state="approved"), supersede_pending=True)  # a resubmit
    assert outbox.batch("a1.0.created/p")["state"] == "awaiting_approval"  # type: ignore[index]
    assert outbox.add_batch(batch("a1.1.escalated/p", state="awaiting_approval", at=T + 60), supersede_pending=True)
    first = outbox.batch("a1.0.created/p")
    assert first is not None and first["state"] == "superseded" and first["comment"] == "superseded by a1.1.escalated/p"
    assert first["decided_at"] == T + 60
    assert outbox.earlier_states("a1", "p") == {"superseded", "awaiting_approval"}
    assert outbox.earlier_states("a1", "other") == set() and outbox.batch("nope") is None
    # Another policy's pending batch of the same alarm is its own.
    outbox.add_batch(batch("a1.1.escalated/q", policy="q", state="awaiting_approval", at=T + 60), True)
    assert outbox.batch("a1.1.escalated/q")["state"] == "awaiting_approval"  # type: ignore[index]
    assert [b["id"] for b in outbox.batches("awaiting_approval")] in (
        ["a1.1.escalated/p", "a1.1.escalated/q"],
        ["a1.1.escalated/q", "a1.1.escalated/p"],
    )
    assert [b["id"] for b in outbox.batches(limit=10)][-1] == "a1.0.created/p"  # newest first
    assert len(outbox.batches(limit=1)) == 1


def test_an_officer_decides_a_pending_batch_once_and_the_decision_is_audited(outbox: OutboxLike) -> None:
    outbox.add_batch(batch("b1", state="awaiting_approval"), True)
    outbox.add_batch(batch("b2", alarm_id="a2", state="awaiting_approval"), True)
    approved = outbox.decide("b1", True, "officer-1", "đã xác minh", T + 5)
    assert (approved["state"], approved["decided_by"], approved["comment"]) == ("approved", "officer-1", "đã xác minh")
    assert approved["decided_at"] == T + 5
    with pytest.raises(ValueError, match="b1 is approved, not awaiting approval"):
        outbox.decide("b1", False, "officer-2", "", T + 6)
    with pytest.raises(KeyError):
        outbox.decide("missing", True, "officer-1", "", T + 6)
    assert outbox.decide("b2", False, "officer-2", "nhầm", T + 7)["state"] == "rejected"
    assert [b["id"] for b in outbox.to_expand()] == ["b1"]
    log = outbox.audit_log()
    assert [(a["actor"], a["action"], a["subject"], a["detail"]) for a in log] == [
        ("officer-2", "reject", "b2", "nhầm"),
        ("officer-1", "approve", "b1", "đã xác minh"),
    ]
    assert set(log[0]) == {"ts", "actor", "action", "subject", "detail"}


def test_messages_are_added_once_and_the_batch_is_expanded_when_done(outbox: OutboxLike) -> None:
    outbox.add_batch(batch("b1"), False)
    rows = [message(f"b1/r{k}") for k in range(5)]
    assert outbox.add_messages("b1", rows[:3], done=False) == 3
    assert outbox.batch("b1")["state"] == "approved"  # type: ignore[index]
    # Expanded again after a crash mid-way: the first three are not added twice.
    assert outbox.add_messages("b1", rows, done=True) == 2
    b = outbox.batch("b1")
    assert b is not None and b["state"] == "expanded" and b["messages"] == 5
    assert outbox.to_expand() == []
    assert outbox.add_messages("b1", [], done=True) == 0
    listed = outbox.messages()
    assert [m["id"] for m in listed] == [f"b1/r{k}" for k in range(5)]
    m = listed[0]
    assert (m["state"], m["attempts"], m["batch_id"], m["channel"], m["recipient_id"]) == (
        "queued",
        0,
        "b1",
        "sms",
        "r0",
    )
    assert m["sent_at"] is None and m["last_error"] is None and m["updated_at"] == T
    assert [x["id"] for x in outbox.messages(recipient_id="r3")] == ["b1/r3"]
    assert [x["id"] for x in outbox.messages(state="queued", channel="sms", limit=2)] == ["b1/r0", "b1/r1"]
    assert outbox.messages(state=None, limit=1)[0]["id"] == "b1/r0"  # None: no condition
    assert outbox.counts() == {"queued": 5} and outbox.counts("b1") == {"queued": 5} and outbox.counts("b9") == {}


def test_a_claim_takes_due_messages_oldest_first_and_marks_them_sending(outbox: OutboxLike) -> None:
    outbox.add_batch(batch("b1"), False)
    outbox.add_messages(
        "b1",
        [
            message("b1/late", next_at=T + 100),
            message("b1/second", next_at=T + 2),
            message("b1/first", next_at=T + 1),
            message("b1/tg", channel="tg", next_at=T),
        ],
        done=True,
    )
    assert outbox.next_due("sms") == T + 1 and outbox.next_due("tg") == T and outbox.next_due("zalo") is None
    assert outbox.claim("sms", T, 5) == []  # nothing due yet
    due = outbox.claim("sms", T + 10, 5)
    assert [(d.id, d.attempts, d.created_at) for d in due] == [("b1/first", 1, T), ("b1/second", 1, T)]
    assert due[0].body == json.dumps({"id": "b1/first"})
    assert outbox.claim("sms", T + 10, 5) == []  # claimed: not handed out again
    assert outbox.counts() == {"sending": 2, "queued": 2}
    assert outbox.messages(id="b1/first")[0]["updated_at"] == T + 10
    assert [d.id for d in outbox.claim("tg", T + 10, 1)] == ["b1/tg"]
    assert outbox.next_due("sms") == T + 100


def test_outcomes_move_forward_and_a_report_is_never_overwritten(outbox: OutboxLike) -> None:
    fill(outbox, 4)
    due = outbox.claim("sms", T, 4)
    assert len(due) == 4
    # Retried: queued again with its error and due time; attempts counted at each claim.
    outbox.mark_retry("b1/r0000", "503", T + 30, T + 1)
    r0 = outbox.messages(id="b1/r0000")[0]
    assert (r0["state"], r0["last_error"], r0["next_at"], r0["attempts"]) == ("queued", "503", T + 30, 1)
    outbox.mark_retry("b1/r0000", "late", T + 99, T + 2)  # not sending any more: nothing happens
    assert outbox.messages(id="b1/r0000")[0]["next_at"] == T + 30
    assert [(d.id, d.attempts) for d in outbox.claim("sms", T + 30, 1)] == [("b1/r0000", 2)]

    # The delivery report came before the send returned: the send's "sent" does not undo "delivered".
    assert outbox.report("b1/r0001", "delivered", "1", T + 3)
    outbox.mark_sent("b1/r0001", "sent", "p-1", "", T + 4)
    r1 = outbox.messages(id="b1/r0001")[0]
    assert (r1["state"], r1["provider_id"], r1["delivered_at"], r1["sent_at"]) == ("delivered", "p-1", T + 3, T + 3)
    # The usual order: sent, then the report.
    outbox.mark_sent("b1/r0002", "sent", "p-2", "queued at gateway", T + 5)
    assert outbox.report("b1/r0002", "sent", "", T + 6)  # nothing new
    assert outbox.messages(id="b1/r0002")[0]["updated_at"] == T + 5
    assert outbox.report("b1/r0002", "failed", "absent subscriber", T + 7)
    assert outbox.report("b1/r0002", "delivered", "late", T + 8)  # final: never moves back or sideways
    r2 = outbox.messages(id="b1/r0002")[0]
    assert (r2["state"], r2["last_error"], r2["sent_at"]) == ("failed", "absent subscriber", T + 5)
    # Delivered straight from the send.
    outbox.mark_sent("b1/r0003", "delivered", None, "", T + 9)
    r3 = outbox.messages(id="b1/r0003")[0]
    assert (r3["state"], r3["delivered_at"], r3["provider_id"]) == ("delivered", T + 9, None)
    outbox.mark_failed("b1/r0003", "too late", T + 10)  # a final state stays
    outbox.mark_failed("b1/r0000", "invalid number", T + 10)
    assert outbox.messages(id="b1/r0000")[0]["last_error"] == "invalid number"
    assert outbox.counts() == {"delivered": 2, "failed": 2}
    assert not outbox.report("no-such", "delivered", "", T)
    with pytest.raises(ValueError, match="not 'queued'"):
        outbox.report("b1/r0000", "queued", "", T)


def test_sends_cut_short_wait_for_a_report_on_reporting_channels_and_are_requeued_elsewhere(
    outbox: OutboxLike,
) -> None:
    outbox.add_batch(batch("b1"), False)
    outbox.add_messages(
        "b1", [message("b1/s1"), message("b1/s2"), message("b1/t1", channel="tg"), message("b1/q")], done=True
    )
    outbox.claim("sms", T, 2)
    outbox.claim("tg", T, 1)
    assert outbox.recover(["sms"], 60.0, T + 1) == {"awaiting_report": 2, "requeued": 1}
    assert outbox.counts() == {"unknown": 2, "queued": 2}
    assert outbox.messages(id="b1/t1")[0]["next_at"] == T + 1
    assert outbox.recover([], 60.0, T + 2) == {"awaiting_report": 0, "requeued": 0}
    assert outbox.report("b1/s1", "delivered", "", T + 10)  # its report came: not sent again
    assert outbox.release_unknown(T + 60) == 0  # not yet
    assert outbox.release_unknown(T + 61) == 1
    s2 = outbox.messages(id="b1/s2")[0]
    assert s2["state"] == "queued" and s2["last_error"] == "no delivery report after a crash: sent again"
    assert {d.id for d in outbox.claim("sms", T + 61, 5)} == {"b1/s2", "b1/q"}


def test_cap_messages_are_stored_once_and_the_feed_lists_each_alarms_newest_unless_cancelled(
    outbox: OutboxLike,
) -> None:
    a1, a2 = json.dumps({"id": "a1", "x": 1}), json.dumps({"id": "a2"})
    assert outbox.add_cap("a1.0.created", a1, T, "Alert", "Lũ", b"<alert>1</alert>")
    assert not outbox.add_cap("a1.0.created", a1, T + 1, "Alert", "Lũ", b"<alert>again</alert>")
    assert outbox.add_cap("a1.1.escalated", a1, T + 10, "Update", "Lũ lớn", b"<alert>2</alert>")
    assert outbox.add_cap("a2.0.created", a2, T + 5, "Alert", "Mưa", b"<alert>3</alert>")
    assert outbox.cap("a1.0.created") == b"<alert>1</alert>" and outbox.cap("nope") is None
    assert outbox.cap_refs("a1") == [
        {"identifier": "a1.0.created", "sent": T},
        {"identifier": "a1.1.escalated", "sent": T + 10},
    ]
    active = outbox.cap_active()
    assert [(r["identifier"], r["msg_type"], r["headline"]) for r in active] == [
        ("a1.1.escalated", "Update", "Lũ lớn"),
        ("a2.0.created", "Alert", "Mưa"),
    ]
    assert active[0]["alarm"] == a1 and active[0]["alarm_id"] == "a1" and active[0]["sent"] == T + 10
    outbox.add_cap("a2.1.cleared", a2, T + 20, "Cancel", "Hết mưa", b"<alert>4</alert>")
    assert [r["identifier"] for r in outbox.cap_active()] == ["a1.1.escalated"]


def test_changes_tell_what_was_added_removed_or_changed_since_the_last_call(outbox: OutboxLike) -> None:
    assert outbox.changes("recipient", {"r1": "x", "r2": "y"}) == {"added": ["r1", "r2"], "removed": [], "changed": []}
    assert outbox.changes("policy", {"p": "1"})["added"] == ["p"]  # kinds apart
    assert outbox.changes("recipient", {"r2": "z", "r3": "w"}) == {
        "added": ["r3"],
        "removed": ["r1"],
        "changed": ["r2"],
    }
    assert outbox.changes("recipient", {}) == {"added": [], "removed": ["r2", "r3"], "changed": []}
    outbox.audit("hub", "load", "recipients.csv", {"b": 1, "a": "Huế"}, now=T)
    outbox.audit("hub", "recover", "messages", "text", now=T + 1)
    outbox.audit("hub", "later", "x", "now")  # no time given: now
    log = outbox.audit_log(limit=10)
    assert [a["action"] for a in log] == ["later", "recover", "load"]
    assert log[2]["detail"] == '{"a": "Huế", "b": 1}' and log[2]["ts"] == T
    assert len(outbox.audit_log(limit=1)) == 1


# -- PostgreSQL: what several hubs sharing it adds ------------------------------------------------------------
def test_two_hubs_claiming_at_once_never_get_the_same_message(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    hubs = [PgOutbox(pg_cluster.dsn, schema=pg_schema, owner=f"hub-{k}") for k in range(2)]
    ids = fill(hubs[0], 400)
    got: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def drain(k: int) -> None:
        start.wait()
        while due := hubs[k].claim("sms", T, 1 + k * 2):  # different batch sizes: the claims interleave
            got[k].extend(d.id for d in due)

    threads = [threading.Thread(target=drain, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert got[0] and got[1], "both hubs claimed some"
    assert not set(got[0]) & set(got[1])
    assert sorted(got[0] + got[1]) == ids
    assert hubs[0].counts() == {"sending": 400}
    claimed = dict(hubs[1].claims())
    assert {m for m, owner in claimed.items() if owner == "hub-1"} == set(got[1])
    for h in hubs:
        h.close()


def test_a_batch_submitted_by_two_hubs_at_once_exists_once_with_each_message_once(
    pg_cluster: PostgreSQL, pg_schema: str
) -> None:
    hubs = [PgOutbox(pg_cluster.dsn, schema=pg_schema) for _ in range(4)]
    results: list[bool] = []
    added: list[int] = []
    start = threading.Barrier(len(hubs))
    rows = [message(f"a1.0.created/r{k}/sms") for k in range(300)]

    def submit(box: PgOutbox) -> None:
        start.wait()
        # A batch pending for the officer, and its newer change: a resubmit must never supersede its own batch.
        results.append(box.add_batch(batch("a1.0.created/p", state="awaiting_approval"), supersede_pending=True))
        added.append(box.add_messages("a1.0.created/p", rows, done=True))

    threads = [threading.Thread(target=submit, args=(h,)) for h in hubs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == [False, False, False, True]
    assert sum(added) == 300
    assert [b["id"] for b in hubs[1].batches()] == ["a1.0.created/p"]
    b = hubs[2].batch("a1.0.created/p")
    assert b is not None and b["state"] == "expanded" and b["messages"] == 300
    assert hubs[3].counts() == {"queued": 300}
    for h in hubs:
        h.close()


def test_two_officers_deciding_one_batch_on_two_hubs_one_wins(pg_cluster: PostgreSQL, pg_schema: str) -> None:
    a, b = (PgOutbox(pg_cluster.dsn, schema=pg_schema) for _ in range(2))
    a.add_batch(batch("b1", state="awaiting_approval"), True)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(box: PgOutbox, approve: bool, who: str) -> None:
        start.wait()
        try:
            outcomes.append(box.decide("b1", approve, who, "", T)["state"])
        except ValueError as exc:
            outcomes.append(str(exc))

    threads = [
        threading.Thread(target=decide, args=(a, True, "officer-a")),
        threading.Thread(target=decide, args=(b, False, "officer-b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = b.batch("b1")
    assert won is not None and won["state"] in ("approved", "rejected")
    assert sorted(outcomes) == sorted([won["state"], f"batch b1 is {won['state']}, not awaiting approval"])
    assert len(a.audit_log()) == 1  # only the winner's decision
    a.close()
    b.close()


def test_a_claim_whose_commit_was_lost_with_the_connection_is_queued_again(
    pg_cluster: PostgreSQL, pg_schema: str
) -> None:
    """The connection broke at the commit: the claim may be committed, but no sender got its messages. The next
    claim that commits queues them again (as they were) rather than leaving them sending until a new leader."""
    box = PgOutbox(pg_cluster.dsn, schema=pg_schema)
    fill(box, 2)
    [lost] = box.claim("sms", T, 1)
    with psycopg.connect(pg_cluster.dsn) as conn:
        query = sql.SQL("SELECT claim FROM {}.messages WHERE id = %s").format(sql.Identifier(pg_schema))
        row = conn.execute(query, (lost.id,)).fetchone()
    assert row is not None
    box._lost_claims.add(row[0])  # what claim() records when its commit's answer never came
    again = box.claim("sms", T + 1, 5)
    assert [(d.id, d.attempts) for d in again] == [("b1/r0000", 1), ("b1/r0001", 1)]
    assert box.counts() == {"sending": 2} and not box._lost_claims
    box.close()


def test_committed_rows_survive_a_sigkilled_postgresql_and_the_outbox_carries_on(tmp_path: Path) -> None:
    pg = PostgreSQL(tmp_path / "pg")  # its own: the module's cluster is not killed under the other tests
    pg.start()
    try:
        box = PgOutbox(pg.dsn)
        fill(box, 3)
        [due] = box.claim("sms", T, 1)
        box.mark_sent(due.id, "sent", "p-1", "", T + 1)
        box.add_cap("a1.0.created", json.dumps({"id": "a1"}), T, "Alert", "Lũ", b"<alert/>")
        pg.kill()
        with pytest.raises(ConnectionError):  # OutboxUnavailable: a ConnectionError the service retries on
            box.claim("sms", T, 1)
        pg.start()
        # A read finds its connection broken and is tried once on a new one; writes work again.
        assert box.counts() == {"sent": 1, "queued": 2}
        assert box.cap("a1.0.created") == b"<alert/>"
        assert box.batch("b1")["state"] == "expanded"  # type: ignore[index]
        assert len(box.claim("sms", T, 5)) == 2
        other = PgOutbox(pg.dsn)  # another hub opening it after the restart sees the same
        assert other.counts() == {"sent": 1, "sending": 2}
        other.close()
        box.close()
    finally:
        pg.kill()


def test_an_unreachable_postgresql_is_a_connection_error(tmp_path: Path) -> None:
    from testkit.localsvc import free_port

    with pytest.raises(OutboxUnavailable) as err:
        PgOutbox(f"postgresql://iocgw@127.0.0.1:{free_port()}/iocgw?connect_timeout=2")
    assert isinstance(err.value, ConnectionError)
