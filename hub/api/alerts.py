"""Alert routes: list and filter, one alert, acknowledge with a comment, one by one or in bulk."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hub.alerts.alarm import Alarm, AlarmState
from hub.alerts.config import RuleTables
from hub.alerts.engine import AlertEngine
from hub.alerts.rules.risk_level import MAX_RISK, risk_colour
from hub.alerts.rules.severity import Severity
from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.leading import leading_engine, through_engine
from hub.api.models import AckRequest, AlertList, AlertOut, AlertQuery, BulkAckRequest, Display
from hub.api.routes import ApiError, Call, Route
from hub.feeds.units import AdminUnits, load_units

if TYPE_CHECKING:  # psycopg is loaded only in cluster mode
    from hub.alerts.pg_store import AlertStoreLike

# The hub's own palette for severities; deliberately not the QĐ 18/2021 risk colours, which only risk levels wear.
SEVERITY_COLOURS: dict[Severity, tuple[str, str]] = {
    Severity.INFO: ("#CFD8DC", "#000000"),
    Severity.WARNING: ("#FFEB3B", "#000000"),
    Severity.MINOR: ("#FFB74D", "#000000"),
    Severity.MAJOR: ("#F44336", "#FFFFFF"),
    Severity.CRITICAL: ("#B71C1C", "#FFFFFF"),
}
# Filters the store cannot apply in SQL (area prefix, severity) look at this many of the newest alarms.
SCAN_LIMIT = 10_000
T = TypeVar("T")


async def read_alarms(ctx: ApiContext, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``ctx.read`` of the alarms' store. Cluster mode: a PostgreSQL that cannot be reached is a 503 that says so (a
    ConnectionError: hub.alerts.pg_store.StoreUnavailable), not a 500; the next read tries a new connection."""
    try:
        return await ctx.read(fn, *args, **kwargs)
    except ConnectionError as exc:
        raise ApiError(503, f"the alarms cannot be read now: {exc}") from None


def display(alarm: Alarm) -> Display:
    """Disaster-risk alarms wear the official colour of their level; the rest the severity palette."""
    if alarm.rule == "disaster_risk" and alarm.level is not None and 1 <= alarm.level <= MAX_RISK:
        colour = risk_colour(alarm.level)
        return Display(
            fill=colour.hex, text=colour.text_hex, label=f"Cấp {colour.level} · {colour.name_vi}", official=True
        )
    fill, text = SEVERITY_COLOURS[alarm.severity]
    return Display(fill=fill, text=text, label=alarm.severity.value, official=False)


# Rules whose subject is an area code: the subject's name is the area's.
AREA_SUBJECTS = frozenset({"disaster_risk"})


def area_name(units: AdminUnits | None, code: str | None) -> str | None:
    """The unit's name, a commune with its province ("Phường Ba Đình, Thành phố Hà Nội"); None if unknown."""
    if units is None or not code:
        return None
    unit = units.current.get(code) or units.retired.get(code)
    if unit is None:
        return None
    if unit.code == unit.province_code:
        return unit.name
    province = units.current.get(unit.province_code) or units.retired.get(unit.province_code)
    return f"{unit.name}, {province.name}" if province is not None else unit.name


def area_filter(area: str | None) -> tuple[str | None, Callable[[Alarm], bool]]:
    """(the prefix the store filters by in SQL, a filter to apply after reading). A province's communes do not share
    its code's prefix (00004 is in 01), so a 2-digit area is matched by the unit table after reading (its own code,
    codes under its prefix, and its communes); a longer one by prefix in SQL."""
    if area is None or len(area) != 2:
        return area, lambda a: True
    units = load_units()
    return None, lambda a: (a.area or "").startswith(area) or in_area(units, a.area, area)


def in_area(units: AdminUnits, code: str | None, area: str) -> bool:
    """``code`` is ``area`` or one of its communes. By the unit table, not by prefix: GSO commune codes do not begin
    with their province's code (Phường Ba Đình, 00004, is in Hà Nội, 01)."""
    if code is None:
        return False
    if code == area:
        return True
    unit = units.current.get(code) or units.retired.get(code)
    return unit is not None and unit.code != unit.province_code and unit.province_code == area


def to_acknowledge(alarms: list[Alarm], body: BulkAckRequest, units: AdminUnits) -> list[str]:
    """The ids a bulk acknowledgement takes: active, not yet acknowledged, of the rules asked for, in the area."""
    wanted = set(body.rules)
    return [
        a.id
        for a in alarms
        if a.rule in wanted and a.state is AlarmState.ACTIVE_UNACK and in_area(units, a.area, body.area)
    ]


def acknowledge_all(engine: AlertEngine, ids: list[str], who: str, comment: str | None) -> list[Alarm]:
    """One by one through the engine, as the single route does: each alarm gets its own event and audit."""
    done = [engine.acknowledge(i, who, comment) for i in ids]
    return [a for a in done if a is not None]


def subject_names(tables: RuleTables | None) -> dict[str, str]:
    """Station and reservoir ids to their names, from the rule tables in force (overrides applied)."""
    names: dict[str, str] = {}
    if tables is None:
        return names
    if tables.flood is not None:
        names.update({s.station_id: s.name for s in tables.flood.stations})
    if tables.reservoirs is not None:
        names.update({r.reservoir_id: r.name for r in tables.reservoirs.reservoirs})
    return names


# Rules whose subject begins with a node id ("<node>/<sensor>", "<node>/<camera>/<label>"): named after the node.
NODE_SUBJECTS = frozenset({"camera_fire", "data_freshness", "data_quality", "node_offline"})


def subject_name(
    alarm: Alarm, units: AdminUnits | None, names: dict[str, str], nodes: dict[str, str] | None = None
) -> str | None:
    if alarm.rule in AREA_SUBJECTS:
        return area_name(units, alarm.subject)
    head, _, rest = alarm.subject.partition("/")
    if alarm.rule in NODE_SUBJECTS:
        node = (nodes or {}).get(head)
        return f"{node} · {rest}" if node and rest else node
    # dam_safety subjects are "<reservoir>/level", "<reservoir>/rise", ...: the reservoir is the part people know.
    return names.get(alarm.subject) or names.get(head)


def alert_out(
    alarm: Alarm,
    units: AdminUnits | None = None,
    names: dict[str, str] | None = None,
    nodes: dict[str, str] | None = None,
) -> AlertOut:
    return AlertOut(
        **dict(alarm),
        display=display(alarm),
        area_name=area_name(units, alarm.area),
        subject_name=subject_name(alarm, units, names or {}, nodes),
    )


async def named_out(ctx: ApiContext) -> Callable[[Alarm], AlertOut]:
    """``alert_out`` with the names in force. Built per request: a reload, a threshold override or a node's config
    may rename a station or a node. load_units() is cached."""
    units = load_units()
    names = subject_names(ctx.rules.current if ctx.rules is not None else None)
    known = await ctx.read(ctx.state.known_nodes)
    nodes = {node_id: info.name for node_id, info in known.items() if info.name}
    if ctx.view is not None:
        # A rain gauge is named after the node that carries it (the gauge table has no names of its own).
        for gauge in ctx.view.config.rain_gauges or []:
            if gauge.node_id in nodes:
                names.setdefault(gauge.gauge_id, nodes[gauge.node_id])
    return lambda alarm: alert_out(alarm, units, names, nodes)


def routes(ctx: ApiContext) -> list[Route]:
    def store() -> AlertStoreLike:
        if ctx.alerts is None:
            raise ApiError(404, "the alert engine is not configured (no alerts section in the hub config)")
        return ctx.alerts

    def engine() -> AlertEngine:
        store()
        return leading_engine(ctx, "acknowledge")

    async def list_alerts(call: Call) -> AlertList:
        q: AlertQuery = call.query
        post_filter = q.severity is not None or q.area is not None
        limit = SCAN_LIMIT if post_filter else q.limit
        sql_area, keep = area_filter(q.area)
        found = await read_alarms(ctx, store().alarms, active=q.active, rule=q.rule, area=sql_area, limit=limit)
        items = [a for a in found if keep(a)]
        if q.severity is not None:
            items = [a for a in items if a.severity in q.severity]
        out_ = await named_out(ctx)
        out = [out_(a) for a in items[: q.limit]]
        return AlertList(count=len(out), alerts=out)

    async def get_alert(call: Call) -> AlertOut:
        alarm = await read_alarms(ctx, store().get, call.request.match_info["alarm_id"])
        if alarm is None:
            raise ApiError(404, "no such alert")
        return (await named_out(ctx))(alarm)

    async def ack_alert(call: Call) -> AlertOut:
        body: AckRequest = call.body
        # Through the engine, not the store: it owns the write connection and the in-memory active alarms. Not on
        # the API's store thread: the engine's lock may be held by the writer thread for a whole batch.
        acker = engine()
        alarm = await through_engine(
            ctx, "acknowledge", acker.acknowledge, call.request.match_info["alarm_id"], call.who, body.comment
        )
        if alarm is None:
            raise ApiError(404, "no such alert")
        return (await named_out(ctx))(alarm)

    async def bulk_ack(call: Call) -> AlertList:
        acker = engine()
        found = await read_alarms(ctx, store().alarms, active=True, limit=SCAN_LIMIT)
        body: BulkAckRequest = call.body
        ids = to_acknowledge(found, body, load_units())
        done = await through_engine(ctx, "acknowledge", acknowledge_all, acker, ids, call.who, body.comment)
        name = await named_out(ctx)
        out = [name(a) for a in done]
        return AlertList(count=len(out), alerts=out)

    return [
        Route(
            "GET",
            "/api/alerts",
            list_alerts,
            "List alerts, newest first, with filters",
            Role.VIEWER,
            "alerts",
            query=AlertQuery,
            response=AlertList,
            errors=(404, 422, 503),
        ),
        Route(
            "GET",
            "/api/alerts/{alarm_id}",
            get_alert,
            "One alert",
            Role.VIEWER,
            "alerts",
            response=AlertOut,
            errors=(404, 503),
        ),
        Route(
            "POST",
            "/api/alerts/ack",
            bulk_ack,
            "Acknowledge every active unacknowledged alert of some rules in one area, with one comment",
            Role.OFFICER,
            "alerts",
            body=BulkAckRequest,
            response=AlertList,
            errors=(404, 422, 503),
            description="For one hazard in one area, e.g. every flood alarm of a province: the rules of the hazard "
            "and a GSO code (a province's code takes its communes). Answers the alerts it acknowledged (none: "
            "count 0); the token's name is recorded on each.",
        ),
        Route(
            "POST",
            "/api/alerts/{alarm_id}/ack",
            ack_alert,
            "Acknowledge an alert, with a comment; the token's name is recorded as who",
            Role.OFFICER,
            "alerts",
            body=AckRequest,
            body_optional=True,
            response=AlertOut,
            errors=(404, 422, 503),
            description="Acknowledging again changes nothing. An escalation after the acknowledgement asks for a "
            "new one (the state goes back to ACTIVE_UNACK).",
        ),
    ]
