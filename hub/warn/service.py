"""From alarm changes to messages delivered: policies, approval, fan-out to recipients, sending, receipts.

``submit`` is called by the hub for every alarm change the engine reports (from its writer thread); it stores one
batch per matching policy and returns: the engine's event is then safely handed over. Everything else runs on the
hub's event loop: an expander turns approved batches into one message per recipient and channel, and each channel
has ``concurrency`` workers that take due messages oldest first, within the channel's rate limit, and send them.

Two parts, started apart: the **API part** (reads, officers' approvals and rejections, delivery reports, the CAP
feed, the state counts for /metrics) and the **workers** (the expander, the reconciler of ``unknown`` messages, the
channels and their senders). A single hub runs both (``start()``) on its own ``Outbox`` (SQLite). In cluster mode
(docs/scaling.md, "Cluster mode") every hub opens the service on the shared ``PgOutbox`` (PostgreSQL) and runs the
API part (``start(workers=False)``), so an officer on any hub's console sees and decides every batch; only the
alert leader runs the workers (``start_workers()`` on gain, ``stop_workers()`` on loss), so each channel's rate
limit and concurrency hold cluster-wide and each message is claimed by one sender. ``start_workers`` first
recovers the messages left ``sending`` (by this hub's crash, or by a leader that died mid-send): they become
``unknown`` on channels with delivery reports, queued again on the others, as after a single hub's crash.
``stop_workers`` lets each sender finish and record the message it is sending, so a clean handover leaves none
ambiguous. With a shared outbox the idle workers also look for work every ``outbox.idle_poll_s`` (an approval on
another hub does not wake them), and a PostgreSQL that is away stops nothing: each loop logs, waits and tries
again, and an outcome not yet recorded is retried until it is (or the workers stop: then it is recovered).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hub.alerts.alarm import Alarm, Transition
from hub.alerts.notify.ratelimit import TokenBucket
from hub.feeds.units import AdminUnits, load_units
from hub.warn.atom import FeedEntry, atom_feed
from hub.warn.cap import CapError, CapRef, cap_alert, cap_area, cap_identifier, headline, public_rule
from hub.warn.channels import Channel, ChannelConfig, ChannelError, build_channel
from hub.warn.config import WarningsConfig
from hub.warn.message import WarningMessage
from hub.warn.outbox import Due, Outbox, OutboxLike
from hub.warn.policy import Policy, policies_for, release_time
from hub.warn.recipients import Recipient, RecipientList
from hub.warn.text import hazard, warning_text

log = logging.getLogger(__name__)

EXPAND_CHUNK = 1000
# How long the loops wait before trying an outbox that was away again (PostgreSQL restarting).
OUTBOX_RETRY_S = 2.0
# Changes that tell people something new about a warning they may have had; the end of one is never held for
# approval once the warning itself went out.
FOLLOW_UPS = frozenset({Transition.CLEARED, Transition.DEESCALATED})


def address_of(recipient: Recipient, channel: ChannelConfig) -> str | None:
    """Where ``channel`` reaches ``recipient``; None when the recipient has no such address."""
    kind = getattr(channel, "type", "")
    if kind == "sms_kannel":
        return recipient.phone
    if kind == "telegram":
        return recipient.telegram_chat_id
    if kind == "zalo":
        return recipient.phone if getattr(channel, "mode", "oa") == "zns" else recipient.zalo_user_id
    if kind == "siren":
        return recipient.node_id if recipient.role in ("siren", "loudspeaker") else None
    field = getattr(channel, "address_field", None)  # a channel from another package names its recipient field
    value = getattr(recipient, field, None) if isinstance(field, str) else None
    return value if isinstance(value, str) else None


def batch_id(alarm: Alarm, transition: Transition, policy: str) -> str:
    return f"{alarm.id}.{alarm.revision}.{transition.value}/{policy}"


class PublicWarnings:
    def __init__(
        self,
        config: WarningsConfig,
        outbox: Path | OutboxLike,
        recipients: RecipientList,
        *,
        channels: Mapping[str, Channel] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``outbox``: a path opens this hub's own ``Outbox`` there; or an outbox object (``PgOutbox`` in a cluster),
        which ``close()`` closes."""
        self.config = config
        self.recipients = recipients
        self.channels = dict(channels) if channels is not None else {c.name: build_channel(c) for c in config.channels}
        self.outbox: OutboxLike = Outbox(outbox) if isinstance(outbox, Path) else outbox
        self.clock = clock
        self.policies = {p.name: p for p in config.policies}
        self.counters: dict[str, int] = {
            "batches": 0,
            "awaiting_approval": 0,
            "messages_created": 0,
            "sent": 0,
            "delivered": 0,
            "retried": 0,
            "failed": 0,
            "reports": 0,
            "unmatched_reports": 0,
            "cap_messages": 0,
            "cap_errors": 0,
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: dict[str, asyncio.Event] = {}
        self._expand = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []  # the workers'
        self._api_tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._random = random.Random()
        self._units: AdminUnits | None = None
        self._states: dict[str, int] = {}  # messages per state, for /metrics (read off the loop, every second)

    # -- from the engine (any thread) ---------------------------------------------------------------------------
    def submit(self, alarm: Alarm, transition: Transition, now: datetime | None = None) -> list[str]:
        """Store a batch for each policy the change matches; returns their ids (new or not)."""
        when = now or datetime.now(UTC)
        ids = []
        for policy in policies_for(self.config.policies, alarm, transition):
            bid = batch_id(alarm, transition, policy.name)
            state = self._initial_state(policy, alarm, transition)
            row = {
                "id": bid,
                "alarm_id": alarm.id,
                "policy": policy.name,
                "transition": transition.value,
                "area": alarm.area or "",
                "severity": alarm.severity.value,
                "alarm": alarm.model_dump_json(),
                "state": state,
                "approval": policy.approval,
                "release_at": release_time(policy, alarm.severity, when).timestamp(),
                "created_at": when.timestamp(),
            }
            if self.outbox.add_batch(row, supersede_pending=True):
                self.counters["batches"] += 1
                self.counters["awaiting_approval"] += state == "awaiting_approval"
            ids.append(bid)
        if ids:
            self._poke_expander()
        return ids

    def _initial_state(self, policy: Policy, alarm: Alarm, transition: Transition) -> str:
        if policy.approval == "auto":
            return "approved"
        earlier = self.outbox.earlier_states(alarm.id, policy.name)
        went_out = bool(earlier & {"approved", "expanded"})
        if transition in FOLLOW_UPS:
            # People who were warned are told it is over without waiting; if nobody was warned there is nothing
            # to end, and the pending warning is superseded with it.
            return "approved" if went_out else "superseded"
        return "awaiting_approval"

    # -- officers (API) -------------------------------------------------------------------------------------------
    def approve(self, batch_id: str, actor: str, comment: str = "") -> dict[str, Any]:
        row = self.outbox.decide(batch_id, True, actor, comment, self.clock())
        self._poke_expander()
        return row

    def reject(self, batch_id: str, actor: str, comment: str = "") -> dict[str, Any]:
        return self.outbox.decide(batch_id, False, actor, comment, self.clock())

    # -- delivery reports (API) ---------------------------------------------------------------------------------
    def report(self, message_id: str, state: str, detail: str = "") -> bool:
        known = self.outbox.report(message_id, state, detail, self.clock())
        self.counters["reports" if known else "unmatched_reports"] += 1
        if known and state in ("delivered", "failed"):
            self.counters["delivered" if state == "delivered" else "failed"] += 1
        return known

    # -- the loop ---------------------------------------------------------------------------------------------------
    async def start(self, workers: bool = True) -> None:
        """The API part; with ``workers`` the senders too (one hub). A cluster's hub starts without them and its
        leadership calls ``start_workers``/``stop_workers``."""
        self._loop = asyncio.get_running_loop()
        if not self._api_tasks:
            self._api_tasks.append(asyncio.create_task(self._count_states(), name="warn-states"))
        if workers:
            await self.start_workers()

    @property
    def workers_running(self) -> bool:
        return bool(self._tasks)

    @property
    def stop_timeout_s(self) -> float:
        """The longest ``stop_workers`` takes: each sender's last attempt, then the other tasks' cancellation."""
        return self._drain_s() + 5.0

    async def start_workers(self) -> None:
        """Recover what was left ``sending``, then start the expander, the reconciler and each channel's senders.
        Nothing if they run already."""
        if self._tasks:
            return
        self._loop = asyncio.get_running_loop()
        self._closing = False
        reconciling = [n for n, c in self.channels.items() if c.reports]
        # SQLite and PostgreSQL never on the event loop (docs/concurrency.md): every outbox call goes through a
        # worker thread.
        recovered = await asyncio.to_thread(self.outbox.recover, reconciling, self.config.reconcile_s, self.clock())
        if any(recovered.values()):
            log.warning("public warnings: messages cut short by a stop: %s", recovered)
            await asyncio.to_thread(self.outbox.audit, "hub", "recover", "messages", recovered, self.clock())
        self._wake = {name: asyncio.Event() for name in self.channels}
        self._tasks.append(asyncio.create_task(self._expander(), name="warn-expander"))
        self._tasks.append(asyncio.create_task(self._reconciler(), name="warn-reconciler"))
        for name, channel in self.channels.items():
            bucket = TokenBucket(channel.config.rate_limit_per_s, max(1, int(channel.config.rate_limit_per_s)))
            started = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._starter(channel, started), name=f"warn-start-{name}"))
            for k in range(self.config.concurrency):
                task = asyncio.create_task(self._worker(channel, bucket, started), name=f"warn-send-{name}-{k}")
                self._tasks.append(task)
        self._poke_expander()

    def _drain_s(self) -> float:
        return max((c.config.timeout_s for c in self.channels.values()), default=0.0) + 2.0

    async def stop_workers(self) -> None:
        """Stop the workers: each finishes the message it is sending (and records its outcome) rather than being cut
        off mid-send, which would leave it to be sent again by the next one to start them; the other tasks are
        cancelled and the channels closed (their sessions and connections are the running workers' only)."""
        if not self._tasks:
            return
        self._closing = True
        for event in self._wake.values():
            event.set()
        workers = [t for t in self._tasks if t.get_name().startswith("warn-send-")]
        others = [t for t in self._tasks if t not in workers]
        for t in others:
            t.cancel()
        if workers:
            _, late = await asyncio.wait(workers, timeout=self._drain_s())
            for t in late:  # a provider that hangs past its own timeout: cut off, its message left to recover
                t.cancel()
        _, stuck = await asyncio.wait(self._tasks, timeout=5.0)
        if stuck:
            log.warning("public warnings: %d tasks did not stop", len(stuck))
        self._tasks.clear()
        self._wake = {}
        for channel in self.channels.values():
            with contextlib.suppress(Exception):
                await channel.close()

    async def close(self) -> None:
        """Stop the workers (see ``stop_workers``) and the API part's tasks, and close the outbox."""
        await self.stop_workers()
        self._closing = True
        for t in self._api_tasks:
            t.cancel()
        if self._api_tasks:
            await asyncio.wait(self._api_tasks, timeout=5.0)
        self._api_tasks.clear()
        await asyncio.to_thread(self.outbox.close)

    def _poke_expander(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._expand.set)

    def _poke(self, channel: str) -> None:
        event = self._wake.get(channel)
        if event is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(event.set)

    async def _expander(self) -> None:
        retry: float | None = None
        while True:
            # A shared outbox: batches approved on another hub's console wake nobody here, so look every poll.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry or self.outbox.idle_poll_s):
                    await self._expand.wait()
            self._expand.clear()
            try:
                batches = await asyncio.to_thread(self.outbox.to_expand)
            except Exception as exc:  # the outbox away (PostgreSQL restarting): the next round tries again
                log.warning("public warnings: approved batches not read: %s", exc)
                retry = OUTBOX_RETRY_S
                continue
            retry = None
            for batch in batches:
                try:
                    touched = await asyncio.to_thread(self._expand_batch, batch)
                except ConnectionError as exc:  # the outbox away: this batch and the rest in the next round
                    log.warning("public warnings: expanding batch %s cut short: %s", batch["id"], exc)
                    retry = OUTBOX_RETRY_S
                    break
                except Exception:  # one bad batch (a policy removed from the config) must not stop the others
                    log.exception("public warnings: expanding batch %s failed", batch["id"])
                    continue
                for name in touched:
                    self._poke(name)
                await asyncio.sleep(0)  # let the senders run between big batches

    def _publish_cap(self, alarm: Alarm, transition: Transition, sent: datetime) -> None:
        """The alarm change as a CAP 1.2 message, once (several policies may send the same change)."""
        if not public_rule(alarm.rule) or alarm.area is None:
            return
        if self._units is None:
            self._units = load_units()
        cfg = self.config
        refs = [
            CapRef(cfg.cap_sender, r["identifier"], datetime.fromtimestamp(r["sent"], UTC))
            for r in self.outbox.cap_refs(alarm.id)
            if r["identifier"] != cap_identifier(alarm, transition)
        ]
        try:
            area = cap_area(self._units, alarm.area)
            xml = cap_alert(
                alarm,
                transition,
                sender=cfg.cap_sender,
                area=area,
                now=sent,
                previous=refs,
                sender_name=cfg.sender_name,
                sender_name_en=cfg.sender_name_en,
                web=cfg.link_base_url or None,
            )
        except CapError as exc:
            self.counters["cap_errors"] += 1
            log.warning("public warnings: no CAP message for alarm %s (%s): %s", alarm.id, transition.value, exc)
            return
        title = headline(alarm, transition, area, "vi")
        msg_type = "Cancel" if transition is Transition.CLEARED else ("Update" if refs else "Alert")
        ident = cap_identifier(alarm, transition)
        if self.outbox.add_cap(ident, alarm.model_dump_json(), sent.timestamp(), msg_type, title, xml):
            self.counters["cap_messages"] += 1

    def _expand_batch(self, batch: dict[str, Any]) -> set[str]:
        policy = self.policies.get(batch["policy"])
        if policy is None:
            raise ValueError(f"policy {batch['policy']} is no longer configured")
        alarm = Alarm.model_validate_json(batch["alarm"])
        transition = Transition(batch["transition"])
        if policy.public:
            self._publish_cap(alarm, transition, datetime.fromtimestamp(max(batch["created_at"], self.clock()), UTC))
        vi, en = warning_text(alarm, transition, self.config.link_base_url)
        audience = [r for r in self.recipients.in_area(batch["area"]) if r.role in policy.roles]
        rows, touched = [], set()
        ended = transition in FOLLOW_UPS
        for recipient in audience:
            audio = (policy.audio_end if ended else policy.audio) if recipient.role == "loudspeaker" else None
            if recipient.role == "loudspeaker" and audio is None:
                continue  # a loudspeaker has nothing to say without a recording for this change
            for name in policy.channels:
                address = address_of(recipient, self.config.channel(name))
                if address is None:
                    continue
                message = WarningMessage(
                    id=f"{alarm.id}.{alarm.revision}.{transition.value}/{recipient.id}/{name}",
                    channel=name,
                    recipient_id=recipient.id,
                    address=address,
                    text_vi=vi,
                    text_en=en,
                    alarm_id=alarm.id,
                    transition=transition.value,
                    hazard=hazard(alarm.rule),
                    severity=alarm.severity.value,
                    area=batch["area"],
                    created_at=datetime.fromtimestamp(batch["created_at"], UTC),
                    sms_encoding=policy.sms_encoding,
                    siren=("off" if ended else "on") if recipient.role == "siren" else None,
                    audio=audio,
                )
                rows.append(
                    {
                        "id": message.id,
                        "channel": name,
                        "recipient_id": recipient.id,
                        "address": address,
                        "body": message.model_dump_json(),
                        "next_at": batch["release_at"],
                        # Held for the quiet hours, its age (max_age_s) counts from its release.
                        "created_at": max(batch["created_at"], batch["release_at"]),
                    }
                )
                touched.add(name)
        for k in range(0, max(len(rows), 1), EXPAND_CHUNK):
            chunk = rows[k : k + EXPAND_CHUNK]
            self.counters["messages_created"] += self.outbox.add_messages(
                batch["id"], chunk, done=k + EXPAND_CHUNK >= len(rows)
            )
        return touched

    async def _count_states(self) -> None:
        while True:
            try:
                self._states = await asyncio.to_thread(self.outbox.counts)
            except Exception as exc:  # the outbox away: the last counts stay until it is back
                log.debug("public warnings: states not counted: %s", exc)
            await asyncio.sleep(1.0)

    async def _reconciler(self) -> None:
        """Messages a crash left without a verdict, whose report did not come within ``reconcile_s``: resent."""
        while True:
            await asyncio.sleep(min(5.0, self.config.reconcile_s))
            try:
                released = await asyncio.to_thread(self.outbox.release_unknown, self.clock())
            except Exception as exc:  # the outbox away: the next round releases them
                log.warning("public warnings: unknown messages not released: %s", exc)
                continue
            if released:
                for name in self.channels:
                    self._poke(name)

    async def _starter(self, channel: Channel, started: asyncio.Event) -> None:
        delay = self.config.retry_initial_s
        while True:
            try:
                await channel.start()
            except Exception as exc:  # a provider down at start: the messages wait, queued
                log.warning("public warnings: channel %s did not start: %s", channel.name, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.config.retry_max_s)
                continue
            started.set()
            return

    async def _worker(self, channel: Channel, bucket: TokenBucket, started: asyncio.Event) -> None:
        name = channel.name
        wake = self._wake[name]
        await started.wait()
        while not self._closing:
            # The token first, then the claim: a message is marked sending only when it is about to be sent, so a
            # crash leaves at most ``concurrency`` messages per channel without a verdict.
            await bucket.acquire()
            due: list[Due] = []
            while not self._closing and not due:
                try:
                    due = await asyncio.to_thread(self.outbox.claim, name, self.clock(), 1)
                    if due:
                        break
                    wake.clear()
                    nxt = await asyncio.to_thread(self.outbox.next_due, name)
                    wait = None if nxt is None else max(0.05, nxt - self.clock())
                    poll = self.outbox.idle_poll_s  # work another hub made wakes nobody here
                    if poll is not None:
                        wait = poll if wait is None else min(wait, poll)
                except Exception as exc:  # the outbox away: nothing claimed, look again in a while
                    log.warning("public warnings: channel %s: no message claimed: %s", name, exc)
                    wait = OUTBOX_RETRY_S
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives as
                # the awaited thing completes, and a worker that missed its cancellation kept close() waiting.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await wake.wait()
            if self._closing:
                if due:  # claimed as the stop came: not sent, so queued again rather than left to recover
                    await self._record(
                        due[0].id,
                        self.outbox.mark_retry,
                        due[0].id,
                        "stopped before sending",
                        self.clock(),
                        self.clock(),
                    )
                return
            try:
                await self._send_one(channel, due[0].id, due[0].body, due[0].attempts, due[0].created_at)
            except Exception:  # an outcome the outbox refused for another reason: the worker goes on, the message
                # stays sending and is recovered at the next start of the workers
                log.exception("public warnings: outcome of %s not recorded", due[0].id)

    async def _send_one(self, channel: Channel, mid: str, body: str, attempts: int, created: float) -> None:
        message = WarningMessage.model_validate_json(body)
        try:
            async with asyncio.timeout(channel.config.timeout_s + 1.0):
                receipt = await channel.send(message)
        except (ChannelError, TimeoutError, OSError) as exc:
            retryable = not isinstance(exc, ChannelError) or exc.retryable
            after = exc.retry_after_s if isinstance(exc, ChannelError) else None
            error = str(exc) or type(exc).__name__
            await self._record(mid, self._failed_attempt, mid, error, retryable, after, attempts, created)
            return
        except Exception as exc:  # a channel's bug: retried, logged, never kills the worker
            log.exception("public warnings: channel %s raised on %s", channel.name, mid)
            error = f"{type(exc).__name__}: {exc}"
            await self._record(mid, self._failed_attempt, mid, error, True, None, attempts, created)
            return
        await self._record(
            mid, self.outbox.mark_sent, mid, receipt.state, receipt.provider_id, receipt.detail, self.clock()
        )
        self.counters["sent"] += 1
        self.counters["delivered"] += receipt.state == "delivered"

    async def _record(self, mid: str, fn: Callable[..., object], *args: Any) -> None:
        """An attempt's outcome, written in a worker thread; with the outbox away, tried again until it is back:
        a sent message left ``sending`` would be sent again by the next start. A stop ends the tries (the message
        is then recovered as cut short)."""
        delay = 0.2
        while True:
            try:
                await asyncio.to_thread(fn, *args)
                return
            except ConnectionError as exc:
                if self._closing:
                    log.warning("public warnings: outcome of %s not recorded at stop: %s", mid, exc)
                    return
                log.warning("public warnings: outcome of %s not recorded yet (%s): again in %.1f s", mid, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, OUTBOX_RETRY_S)

    def _failed_attempt(
        self, mid: str, error: str, retryable: bool, after: float | None, attempts: int, created: float
    ) -> None:
        now = self.clock()
        if not retryable or now - created >= self.config.max_age_s:
            reason = error if not retryable else f"gave up after max_age_s: {error}"
            self.outbox.mark_failed(mid, reason, now)
            self.counters["failed"] += 1
            return
        full = min(self.config.retry_initial_s * 2 ** (attempts - 1), self.config.retry_max_s)
        wait = after if after is not None else full / 2 + self._random.uniform(0, full / 2)
        self.outbox.mark_retry(mid, error, min(now + wait, created + self.config.max_age_s), now)
        self.counters["retried"] += 1

    # -- reading ----------------------------------------------------------------------------------------------
    def atom(self, self_url: str) -> bytes:
        """The Atom feed of the public warnings in force (each entry links to its CAP message)."""
        rows = self.outbox.cap_active()
        # Behind a proxy the configured public address is the one readers know; without one, the request's own.
        asked = urlsplit(self_url)
        base = self.config.public_base_url.rstrip("/") or f"{asked.scheme}://{asked.netloc}"
        if self._units is None:
            self._units = load_units()
        entries = []
        for r in rows:
            alarm = Alarm.model_validate_json(r["alarm"])
            try:
                area = cap_area(self._units, alarm.area or "")
            except CapError:
                area = None
            url = f"{base}/public/cap/{r['identifier']}.xml"
            entries.append(FeedEntry(alarm, r["identifier"], url, area, datetime.fromtimestamp(r["sent"], UTC)))
        newest = max((r["sent"] for r in rows), default=None)
        now = datetime.fromtimestamp(newest, UTC) if newest is not None else datetime.fromtimestamp(0, UTC)
        return atom_feed(
            entries,
            feed_id=f"{base}/public/alerts.atom",
            title=f"Cảnh báo đang có hiệu lực · {self.config.sender_name or self.config.cap_sender}",
            self_url=self_url,
            author=self.config.sender_name or self.config.cap_sender,
            now=now,
        )

    def batch_view(self, row: dict[str, Any]) -> dict[str, Any]:
        alarm = Alarm.model_validate_json(row["alarm"])
        out = {k: v for k, v in row.items() if k != "alarm"}
        out["alarm"] = {"id": alarm.id, "rule": alarm.rule, "subject": alarm.subject, "message": alarm.message}
        out["counts"] = self.outbox.counts(row["id"])
        return out

    def metric_lines(self) -> list[str]:
        lines = [f'iocgw_warn_total{{event="{k}"}} {v}' for k, v in sorted(self.counters.items())]
        # /metrics is served on the event loop: the states counted every second off it, not a query here.
        lines += [f'iocgw_warn_messages{{state="{s}"}} {n}' for s, n in sorted(self._states.items())]
        return lines


def open_public_warnings(
    config: WarningsConfig,
    outbox: Path | OutboxLike,
    config_dir: Path | None = None,
    *,
    channels: Mapping[str, Channel] | None = None,
) -> PublicWarnings:
    """The service with its recipient list read (relative to the hub config's folder); each refused row is logged
    with its line and reason, and the load is recorded in the audit trail. ``outbox``: this hub's warnings.db, or
    a cluster's shared ``PgOutbox``. Blocking (files, the outbox): call it off the event loop."""
    from hub.warn.recipients import load_recipients

    recipients = RecipientList()
    path = config.recipients
    if path is not None:
        if not path.is_absolute() and config_dir is not None:
            path = config_dir / path
        recipients = load_recipients(path, load_units())
        for line, reason in recipients.rejected:
            log.warning("public warnings: %s:%d: %s", path, line, reason)
    service = PublicWarnings(config, outbox, recipients, channels=channels)
    audit_changes(service, str(path or "-"))
    return service


def audit_changes(service: PublicWarnings, source: str, shown: int = 20) -> None:
    """Record in the audit trail what the recipient list and the policies are now, and what changed since the last
    start: who was added, removed or changed (the first ``shown`` ids of each, and the counts)."""

    def digest(model: Any) -> str:
        return hashlib.sha256(model.model_dump_json().encode()).hexdigest()

    outbox = service.outbox
    people = outbox.changes("recipient", {r.id: digest(r) for r in service.recipients.recipients})
    rules = outbox.changes("policy", {p.name: digest(p) for p in service.config.policies})
    summary: dict[str, Any] = dict(service.recipients.summary())
    for what, diff in (("recipients", people), ("policies", rules)):
        for change, keys in diff.items():
            if keys:
                summary[f"{what}_{change}"] = len(keys)
                summary[f"{what}_{change}_ids"] = keys[:shown]
    outbox.audit("hub", "load", source, summary)
