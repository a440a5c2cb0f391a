"""Public-warning routes: batches awaiting an officer, approve or reject, every message with its receipt, the audit
trail, and the SMS gateway's delivery reports (docs/warnings.md)."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.routes import ApiError, Call, Route
from hub.warn.cap import CONTENT_TYPE as CAP_CONTENT_TYPE
from hub.warn.channels.sms_kannel import dlr_state
from hub.warn.service import PublicWarnings

BatchState = Literal["awaiting_approval", "approved", "expanded", "rejected", "superseded"]
MessageState = Literal["queued", "sending", "unknown", "sent", "delivered", "failed"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchQuery(_Body):
    state: BatchState | None = Field(None, description="Only batches in this state, e.g. awaiting_approval")
    limit: int = Field(200, ge=1, le=1000)


class BatchOut(BaseModel):
    """One alarm change under one policy: what an officer approves."""

    id: str
    alarm_id: str
    policy: str
    transition: str
    area: str
    severity: str
    state: str
    approval: str
    release_at: float
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    comment: str | None = None
    messages: int
    alarm: dict[str, Any]
    counts: dict[str, int] = Field(description="Its messages per state")


class BatchList(BaseModel):
    count: int
    batches: list[BatchOut]


class DecisionRequest(_Body):
    comment: str = Field("", max_length=2000, description="Why, for the audit trail")


class MessageQuery(_Body):
    alarm_id: str | None = None
    batch_id: str | None = None
    channel: str | None = None
    state: MessageState | None = None
    recipient_id: str | None = None
    limit: int = Field(500, ge=1, le=10_000)


class MessageOut(BaseModel):
    id: str
    batch_id: str
    channel: str
    recipient_id: str
    address: str
    state: str
    attempts: int
    next_at: float
    last_error: str | None = None
    provider_id: str | None = None
    created_at: float
    sent_at: float | None = None
    delivered_at: float | None = None


class MessageList(BaseModel):
    count: int
    messages: list[MessageOut]


class AuditOut(BaseModel):
    ts: float
    actor: str
    action: str
    subject: str
    detail: str


class AuditList(BaseModel):
    entries: list[AuditOut]


class DlrQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the gateway may add its own parameters

    key: str = Field(description="The configured dlr_token")
    id: str = Field(description="The message id the hub put in the report URL")
    type: int = Field(description="Kannel's DLR type: 1 delivered, 2 failed, 4 buffered, 8 at the SMSC, 16 rejected")
    reply: str = Field("", max_length=500, description="The SMSC's answer, if the gateway passes it")


def _service(warnings: PublicWarnings | None) -> PublicWarnings:
    if warnings is None:
        raise ApiError(404, "public warnings are not configured (no warnings section in the hub config)")
    return warnings


def routes(ctx: ApiContext, warnings: PublicWarnings | None) -> list[Route]:  # noqa: C901 - one closure per route
    def service() -> PublicWarnings:
        return _service(warnings)

    async def list_batches(call: Call) -> BatchList:
        q: BatchQuery = call.query
        svc = service()
        rows = await ctx.read(lambda: [svc.batch_view(r) for r in svc.outbox.batches(q.state, q.limit)])
        return BatchList(count=len(rows), batches=[BatchOut(**r) for r in rows])

    async def decide(call: Call, approve: bool) -> BatchOut:
        svc = service()
        body: DecisionRequest = call.body or DecisionRequest()
        bid = call.request.match_info["batch_id"]
        act = svc.approve if approve else svc.reject

        def decide_and_view() -> dict[str, Any]:
            return svc.batch_view(act(bid, call.who, body.comment))

        try:
            view = await asyncio.to_thread(decide_and_view)
        except KeyError:
            raise ApiError(404, f"no batch {bid}") from None
        except ValueError as exc:
            raise ApiError(409, str(exc)) from None
        return BatchOut(**view)

    async def approve(call: Call) -> BatchOut:
        return await decide(call, True)

    async def reject(call: Call) -> BatchOut:
        return await decide(call, False)

    async def list_messages(call: Call) -> MessageList:
        q: MessageQuery = call.query
        svc = service()
        rows = await ctx.read(
            svc.outbox.messages,
            alarm_id=None,
            batch_id=q.batch_id,
            channel=q.channel,
            state=q.state,
            recipient_id=q.recipient_id,
            limit=q.limit,
        )
        if q.alarm_id is not None:
            rows = [r for r in rows if r["id"].startswith(q.alarm_id + ".")]
        return MessageList(count=len(rows), messages=[MessageOut(**r) for r in rows])

    async def audit(call: Call) -> AuditList:
        svc = service()
        rows = await ctx.read(svc.outbox.audit_log)
        return AuditList(entries=[AuditOut(**r) for r in rows])

    async def kannel_report(call: Call) -> web.StreamResponse:
        svc = service()
        q: DlrQuery = call.query
        try:
            token = svc.config.dlr_token.read() if svc.config.dlr_token is not None else None
        except (OSError, ValueError):
            token = None  # unreadable: refused like a missing one, and the hub's log says why at start
        if token is None or len(token) < 16 or not hmac.compare_digest(q.key.encode(), token.encode()):
            raise ApiError(403, "wrong or missing key: delivery reports need the configured dlr_token")
        known = await asyncio.to_thread(svc.report, q.id, dlr_state(q.type), q.reply)
        # Kannel retries a report the hub did not answer 2xx; an unknown id will never become known, so it is
        # answered 200 and counted, not refused.
        return web.Response(text="ok" if known else "unknown message", content_type="text/plain")

    async def cap_message(call: Call) -> web.StreamResponse:
        ident = call.request.match_info["identifier"].removesuffix(".xml")
        xml = await ctx.read(service().outbox.cap, ident)
        if xml is None:
            raise ApiError(404, f"no CAP message {ident}")
        return web.Response(body=xml, content_type=CAP_CONTENT_TYPE, charset="utf-8")

    async def atom(call: Call) -> web.StreamResponse:
        svc = service()
        body = await ctx.read(svc.atom, str(call.request.url))
        return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")

    return [
        Route("GET", "/public/cap/{identifier}", cap_message, "One public warning as a CAP 1.2 message", None,
              "public", content_type=CAP_CONTENT_TYPE, errors=(404,),
              description="No token: public warnings are public. The identifier is the alarm change's, with or "
              "without '.xml'."),
        Route("GET", "/public/alerts.atom", atom, "Atom feed of the public warnings in force, linking their CAP",
              None, "public", content_type="application/atom+xml", errors=(404,)),
        Route("GET", "/api/warnings/batches", list_batches, "Public-warning batches, newest first", Role.VIEWER,
              "warnings", query=BatchQuery, response=BatchList, errors=(404, 422)),
        Route("POST", "/api/warnings/batches/{batch_id}/approve", approve,
              "Approve a batch awaiting approval: its messages go out", Role.OFFICER, "warnings",
              body=DecisionRequest, body_optional=True, response=BatchOut, errors=(404, 409, 422),
              description="The token's name is recorded as who approved, in the batch and the audit trail."),
        Route("POST", "/api/warnings/batches/{batch_id}/reject", reject,
              "Reject a batch awaiting approval: nothing is sent", Role.OFFICER, "warnings",
              body=DecisionRequest, body_optional=True, response=BatchOut, errors=(404, 409, 422)),
        Route("GET", "/api/warnings/messages", list_messages, "Messages with their delivery state", Role.VIEWER,
              "warnings", query=MessageQuery, response=MessageList, errors=(404, 422)),
        Route("GET", "/api/warnings/audit", audit, "Officers' decisions and recoveries, newest first", Role.VIEWER,
              "warnings", response=AuditList, errors=(404,)),
        Route("GET", "/api/warnings/dlr/kannel", kannel_report, "Delivery report from the SMS gateway (Kannel)",
              None, "warnings", query=DlrQuery, content_type="text/plain", errors=(403, 404, 422),
              description="Called by Kannel's smsbox at the dlr-url the hub gives with each SMS; no operator "
              "token, the shared dlr_token instead."),
    ]  # fmt: skip
