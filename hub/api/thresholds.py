"""Threshold routes: read every rule table, change or revert a flood station or reservoir, the audit, reload."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any, TypeVar

from hub.alerts.config import RuleTables
from hub.alerts.threshold_overrides import ItemView, RuleManager, ThresholdError, UnknownItem, VersionConflict
from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.models import (
    AuditList,
    AuditQuery,
    FloodChange,
    Problem,
    ReloadRequest,
    ReloadResult,
    ReservoirChange,
    RevertRequest,
    ThresholdsOut,
)
from hub.api.routes import ApiError, Call, Route
from plumbing.configfile import ConfigError

T = TypeVar("T")
# ConfigError lines: "line 7: stations.0.bd1_m: Input should be ..." or "row 2 (line 3): bd1_m: ...".
PROBLEM = re.compile(r"^(?:row \d+ \()?line (?P<line>\d+)\)?: (?:(?P<field>[^\s:]+): )?(?P<reason>.*)$", re.S)


def file_problems(exc: ConfigError) -> list[Problem]:
    out = []
    for text in exc.problems:
        m = PROBLEM.match(text)
        if m is None:
            out.append(Problem(reason=text))
        else:
            out.append(Problem(line=int(m["line"]), field=m["field"], reason=m["reason"]))
    return out


def thresholds_out(rules: RuleManager) -> ThresholdsOut:
    t: RuleTables = rules.current
    return ThresholdsOut(
        flood=t.flood,
        reservoirs=t.reservoirs,
        rain=t.rain,
        nesterov=t.nesterov,
        risk=t.risk,
        camera=t.camera,
        overrides=rules.overrides(),
        problems=list(rules.problems),
    )


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a RuleManager call off the event loop (it may wait for the engine) and map its errors to answers."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except UnknownItem as exc:
        raise ApiError(404, str(exc)) from None
    except VersionConflict as exc:
        raise ApiError(409, f"{exc}: read it again and retry") from None
    except ThresholdError as exc:
        raise ApiError(
            422, "the table would not validate with this change; nothing changed", problems=[Problem(reason=str(exc))]
        ) from None
    except ConnectionError as exc:  # cluster mode: the overrides live in PostgreSQL, which is away
        raise ApiError(503, f"the threshold overrides cannot be reached now: {exc}") from None


class _Handlers:
    """The handlers of the routes on the whole rule set."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def rules(self) -> RuleManager:
        # Looked up per call: a hub without an alerts section answers 404 rather than failing to start its API.
        if self.ctx.rules is None:
            raise ApiError(404, "the alert engine is not configured (no alerts section in the hub config)")
        return self.ctx.rules

    async def all_thresholds(self, call: Call) -> ThresholdsOut:
        return await _run(thresholds_out, self.rules())

    async def audit(self, call: Call) -> AuditList:
        q: AuditQuery = call.query
        entries = await _run(self.rules().audit, kind=q.kind, item_id=q.item_id, limit=q.limit)
        return AuditList(entries=entries)

    async def reload(self, call: Call) -> ReloadResult:
        body: ReloadRequest = call.body
        manager = self.rules()
        try:
            tables = await asyncio.to_thread(manager.reload, call.who, body.comment)
        except ConfigError as exc:
            raise ApiError(
                422,
                "a rule file is invalid; the running rules stay as they were",
                file=exc.path,
                problems=file_problems(exc),
            ) from None
        except ValueError as exc:
            raise ApiError(
                422,
                "the rule files do not fit together; the running rules stay as they were",
                problems=[Problem(reason=str(exc))],
            ) from None
        return ReloadResult(
            reloaded=True,
            flood_stations=len(tables.flood.stations) if tables.flood else 0,
            reservoirs=len(tables.reservoirs.reservoirs) if tables.reservoirs else 0,
            nesterov_provinces=len(tables.nesterov),
            problems=list(manager.problems),
        )


class _ItemHandlers:
    """The handlers of one kind of entry (flood station or reservoir), named by ``id_name`` in the path and by
    ``field`` in a change's body."""

    def __init__(self, rules: Callable[[], RuleManager], kind: str, id_name: str, field: str) -> None:
        self.rules = rules
        self.kind = kind
        self.id_name = id_name
        self.field = field

    async def get_item(self, call: Call) -> ItemView:
        return await _run(self.rules().item, self.kind, call.request.match_info[self.id_name])

    async def put_item(self, call: Call) -> ItemView:
        item_id = call.request.match_info[self.id_name]
        body = call.body
        item = getattr(body, self.field)
        if getattr(item, self.id_name) != item_id:
            problem = Problem(field=f"{self.field}.{self.id_name}", reason=f"must be {item_id!r}, the id in the path")
            raise ApiError(422, "the entry's id does not match the path; nothing changed", problems=[problem])
        return await _run(
            self.rules().change,
            self.kind,
            item,
            who=call.who,
            comment=body.comment,
            expected_version=body.expected_version,
        )

    async def revert_item(self, call: Call) -> ItemView:
        body: RevertRequest = call.body
        return await _run(
            self.rules().revert,
            self.kind,
            call.request.match_info[self.id_name],
            who=call.who,
            comment=body.comment,
            expected_version=body.expected_version,
        )


def _item_routes(h: _ItemHandlers, change_model: type[FloodChange] | type[ReservoirChange]) -> list[Route]:
    path = f"/api/thresholds/{h.kind}/{{{h.id_name}}}"
    what = "flood station" if h.kind == "flood" else "reservoir"
    return [
        Route(
            "GET",
            path,
            h.get_item,
            f"One {what}: in force, in the file, override version",
            Role.VIEWER,
            "thresholds",
            response=ItemView,
            errors=(404,),
        ),
        Route(
            "PUT",
            path,
            h.put_item,
            f"Replace one {what}'s thresholds; validated, audited and applied at once",
            Role.HYDROLOGY,
            "thresholds",
            body=change_model,
            response=ItemView,
            errors=(404, 409, 422),
            description="The body carries the whole entry, validated with the model the rule files use. A "
            "bad value answers 422 naming the field, and nothing changes. The override survives restarts "
            "and reloads of the files until reverted.",
        ),
        Route(
            "POST",
            path + "/revert",
            h.revert_item,
            f"Drop the override of one {what}: the rule file's entry applies again",
            Role.HYDROLOGY,
            "thresholds",
            body=RevertRequest,
            response=ItemView,
            errors=(404, 409, 422),
        ),
    ]


def routes(ctx: ApiContext) -> list[Route]:
    h = _Handlers(ctx)
    return [
        Route(
            "GET",
            "/api/thresholds",
            h.all_thresholds,
            "Every rule table in force, overrides applied",
            Role.VIEWER,
            "thresholds",
            response=ThresholdsOut,
            errors=(404,),
        ),
        Route(
            "GET",
            "/api/thresholds/audit",
            h.audit,
            "Who changed which thresholds, when and why, newest first",
            Role.VIEWER,
            "thresholds",
            query=AuditQuery,
            response=AuditList,
            errors=(404, 422),
        ),
        *_item_routes(_ItemHandlers(h.rules, "flood", "station_id", "station"), FloodChange),
        *_item_routes(_ItemHandlers(h.rules, "reservoir", "reservoir_id", "reservoir"), ReservoirChange),
        Route(
            "POST",
            "/api/rules/reload",
            h.reload,
            "Re-read the rule files (overrides applied on top) without a restart",
            Role.ADMIN,
            "thresholds",
            body=ReloadRequest,
            body_optional=True,
            response=ReloadResult,
            errors=(404, 422),
            description="A file that does not validate answers 422 naming the file, line and field; the running "
            "rules stay as they were. The hub config itself (which files, gauges, fire areas) is not re-read.",
        ),
    ]
