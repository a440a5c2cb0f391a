"""Sign-in once: a token exchanged for an HttpOnly, SameSite, expiring session cookie (hub/api/session_cookie.py).

The page never keeps the token: script cannot read the cookie (HttpOnly), another site cannot use it (SameSite=Strict
and the CSRF header on changes), and it ends by itself (Max-Age). The API's Bearer tokens work as before."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.routes import NO_AUTH, ApiError, Call, Route, json_response
from hub.api.session_cookie import COOKIE, SessionCookies

KEY_BYTES = 32


class SessionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="An API token (docs/api.md); it is not kept")


class SessionOut(BaseModel):
    name: str
    role: Role
    expires: datetime = Field(description="When the cookie stops working; sign in again after it")


class SessionState(BaseModel):
    signed_in: bool
    name: str | None = None
    role: Role | None = None


class SignedOut(BaseModel):
    signed_out: bool = True


def load_session_key(path: Path) -> bytes:
    """The key that signs session cookies, made on first start and kept (0600) so sign-ins outlive a restart."""
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(KEY_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    os.replace(tmp, path)
    return key


def routes(ctx: ApiContext, sessions: SessionCookies) -> list[Route]:
    def secure(request: web.Request) -> bool:
        return sessions.secure(request.scheme, request.headers.get("X-Forwarded-Proto"))

    async def sign_in(call: Call) -> web.StreamResponse:
        if ctx.auth is None:
            raise ApiError(503, NO_AUTH)
        body: SessionRequest = call.body
        holder = ctx.auth.lookup(body.token.strip())
        if holder is None:
            raise ApiError(401, "this token is not valid here")
        value, expires = sessions.issue(holder)
        resp = json_response(
            SessionOut(name=holder.name, role=holder.role, expires=datetime.fromtimestamp(expires, UTC)),
            headers={"Cache-Control": "no-store"},
        )
        resp.set_cookie(
            COOKIE,
            value,
            max_age=sessions.max_age_s,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=secure(call.request),
        )
        return resp

    async def state(call: Call) -> SessionState:
        holder = sessions.holder(call.request.cookies.get(COOKIE), ctx.auth) if ctx.auth is not None else None
        if holder is None:
            return SessionState(signed_in=False)
        return SessionState(signed_in=True, name=holder.name, role=holder.role)

    async def sign_out(call: Call) -> web.StreamResponse:
        sessions.end(call.request.cookies.get(COOKIE))
        resp = json_response(SignedOut(), headers={"Cache-Control": "no-store"})
        resp.del_cookie(COOKIE, path="/", httponly=True, samesite="Strict", secure=secure(call.request))
        return resp

    return [
        Route(
            "POST",
            "/api/session",
            sign_in,
            "Sign in: exchange a token for a session cookie (HttpOnly, SameSite=Strict, expiring)",
            None,
            "auth",
            body=SessionRequest,
            response=SessionOut,
            errors=(401, 422, 503),
            description="The page's sign-in. The cookie then authenticates every /api route for the token's role; a "
            "request that changes something with it must also send the header X-Requested-With: iocgw.",
        ),
        Route(
            "GET",
            "/api/session",
            state,
            "Whether this browser's session cookie is signed in (200 either way, so a page can ask before signing in)",
            None,
            "auth",
            response=SessionState,
        ),
        Route(
            "DELETE",
            "/api/session",
            sign_out,
            "Sign out: the session cookie is removed and refused from now on",
            None,
            "auth",
            response=SignedOut,
        ),
    ]
