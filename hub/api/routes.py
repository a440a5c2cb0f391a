"""Routes as data: one list drives the aiohttp router, the role checks, request validation and the OpenAPI document."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.api.auth import ApiSettings, ApiToken, Role, bearer
from hub.api.models import ErrorBody, Problem
from hub.api.session_cookie import COOKIE, CSRF_HEADER, CSRF_VALUE, SessionCookies

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger(__name__)

NO_AUTH = (
    "the operator API has no tokens configured: add an `api: {tokens: [...]}` section to the hub config "
    "(see docs/api.md); until then every /api route is refused"
)


class ApiError(Exception):
    """An error answer: status, a sentence, and optional details (file, problems)."""

    def __init__(self, status: int, error: str, *, file: str | None = None, problems: list[Problem] | None = None):
        super().__init__(error)
        self.status = status
        self.body = ErrorBody(error=error, file=file, problems=problems or [])

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        return json_response(self.body, status=self.status, headers=headers)


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, who made it, and the validated query and body."""

    request: web.Request
    principal: ApiToken | None
    query: Any = None
    body: Any = None

    @property
    def who(self) -> str:
        assert self.principal is not None, "only routes with a role know who calls"
        return self.principal.name


Handler = Callable[[Call], Awaitable[BaseModel | web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One endpoint. ``role`` None: open to anyone (monitoring, the page, the API description)."""

    method: str
    path: str
    handler: Handler
    summary: str
    role: Role | None
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    content_type: str = "application/json"
    errors: tuple[int, ...] = ()
    description: str = ""
    body_optional: bool = False
    responses: dict[int, type[BaseModel]] = field(default_factory=dict)  # error answers not shaped as ErrorBody


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # UTF-8 JSON rather than \u escapes: Vietnamese names stay readable in curl and logs.
    return web.Response(
        body=model.model_dump_json().encode("utf-8"),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def problems_of(exc: ValidationError, drop_prefix: tuple[str, ...] = ()) -> list[Problem]:
    out = []
    for e in exc.errors():
        loc = tuple(str(p) for p in e["loc"])
        if drop_prefix and loc[: len(drop_prefix)] == drop_prefix:
            loc = loc[len(drop_prefix) :]
        # "Value error, " is pydantic's prefix for a validator's own message; the message alone reads better.
        out.append(Problem(field=".".join(loc) or None, reason=e["msg"].removeprefix("Value error, ")))
    return out


def _authorise(
    route: Route, request: web.Request, auth: ApiSettings | None, sessions: SessionCookies | None
) -> ApiToken | None:
    if route.role is None:
        return None
    if auth is None:
        raise ApiError(503, NO_AUTH)
    token = bearer(request.headers.get("Authorization"))
    if token is not None or sessions is None:
        principal = auth.lookup(token) if token else None
    else:
        principal = sessions.holder(request.cookies.get(COOKIE), auth)
        unsafe = request.method not in SAFE_METHODS
        if principal is not None and unsafe and request.headers.get(CSRF_HEADER) != CSRF_VALUE:
            raise ApiError(403, f"a change made with the session cookie needs the header {CSRF_HEADER}: {CSRF_VALUE}")
    if principal is None:
        raise ApiError(401, "sign in (POST /api/session) or send a valid token: Authorization: Bearer <token>")
    if not principal.role.allows(route.role):
        raise ApiError(403, f"this needs the {route.role.value} role; {principal.name} is {principal.role.value}")
    return principal


async def _parse(route: Route, request: web.Request) -> tuple[Any, Any]:
    query = body = None
    if route.query is not None:
        try:
            query = route.query.model_validate(dict(request.query))
        except ValidationError as exc:
            raise ApiError(422, "invalid query parameters", problems=problems_of(exc)) from None
    if route.body is not None:
        raw = await request.read()
        if not raw.strip() and route.body_optional:
            body = route.body()
        else:
            try:
                body = route.body.model_validate_json(raw)
            except ValidationError as exc:
                raise ApiError(422, "invalid request body", problems=problems_of(exc)) from None
    return query, body


def endpoint(
    route: Route, auth: ApiSettings | None, sessions: SessionCookies | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of ``route``: role check (a bearer token, or else a session cookie), validation, then the
    route's handler."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            principal = _authorise(route, request, auth, sessions)
            query, body = await _parse(route, request)
            result = await route.handler(Call(request, principal, query, body))
        except ApiError as exc:
            headers = {"WWW-Authenticate": 'Bearer realm="iocgw"'} if exc.status == 401 else None
            return exc.response(headers)
        if isinstance(result, web.StreamResponse):
            return result
        # Keeps the OpenAPI document honest: a handler must answer with the model its route declares.
        if route.response is None or not isinstance(result, route.response):
            raise TypeError(f"{route.method} {route.path} answered {type(result).__name__}, not {route.response}")
        return json_response(result)

    handle.__name__ = getattr(route.handler, "__name__", "handle")
    return handle


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Errors outside the handlers (no such route, wrong method) in the same JSON shape under /api."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        return ApiError(exc.status, exc.reason).response({k: v for k, v in exc.headers.items() if k.lower() == "allow"})
    except Exception:
        if not request.path.startswith("/api/"):
            raise
        log.exception("%s %s failed", request.method, request.path)
        return ApiError(500, "internal error; see the hub log").response()
