"""The public status page: what anyone may read without a token, in Vietnamese, fast on a phone on a slow link.

``GET /public/status.json`` is the data; ``GET /public/`` the same data rendered on the server into one
self-contained HTML page (inline CSS and JS, no fonts, scripts or images from anywhere), so it reads with JS off and
paints before any fetch; with JS on it refreshes from status.json every minute. docs/public-page.md.

Only public rules (those ``hub.warn.cap.FAMILIES`` does not mark technical) and nothing personal: no
acknowledgements, comments, names of who planned a release or who must warn.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiohttp.web_response import ContentCoding
from pydantic import AwareDatetime, BaseModel, Field

from hub.alerts.alarm import Alarm
from hub.alerts.config import RuleTables
from hub.alerts.evaluate.flood import RATE_WINDOW
from hub.alerts.rules.base import LOCAL_TZ
from hub.alerts.rules.flood_levels import FloodStation, rate_of_rise_m_per_h
from hub.alerts.rules.risk_level import MAX_RISK, risk_colour
from hub.alerts.rules.severity import Severity
from hub.api.alerts import SEVERITY_COLOURS
from hub.api.compression import accepts_gzip
from hub.api.context import ApiContext
from hub.api.routes import Call, Route
from hub.feeds.units import AdminUnits, load_units
from hub.warn.cap import FAMILIES

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
# Short: a phone that reloads sees news within the minute; a proxy in front of a hub that a whole province opens
# during a flood answers most of them from its cache.
CACHE_CONTROL = "public, max-age=30"
# One build of the status serves every request for this long: the page must not put load on the engine's store.
BUILD_EVERY_S = 5.0
# The hub never learns when a release ends: a plan stays on the page for this long after its opening.
RELEASE_SHOWN_AFTER_OPENING = timedelta(hours=24)
# A reading older than this is marked as old: its BĐ level may no longer be the river's.
STALE_AFTER = timedelta(hours=3)
# Rates within this band (m/h) read as steady: a gauge's noise is not a rise.
STEADY_M_PER_H = 0.02
ALARM_SCAN = 10_000
# Shown as areas (their risk level) rather than among the warnings. The dam rule's release reminder (subject
# "<reservoir>/release") is left out too: it tells officers to warn; the release itself is under the reservoirs.
NOT_LISTED = frozenset({"disaster_risk"})

RISK_MEANING_VI = {1: "Rủi ro thấp", 2: "Rủi ro trung bình", 3: "Rủi ro lớn", 4: "Rủi ro rất lớn", 5: "Thảm họa"}
SEVERITY_VI = {
    Severity.INFO: "Thông tin",
    Severity.WARNING: "Chú ý",
    Severity.MINOR: "Cảnh báo",
    Severity.MAJOR: "Nguy hiểm",
    Severity.CRITICAL: "Rất nguy hiểm",
}
# BĐ levels wear the severity the flood rule gives them (hub/alerts/evaluate/flood.py): one palette for the page.
BD_SEVERITY = {1: Severity.WARNING, 2: Severity.MAJOR, 3: Severity.CRITICAL}
TREND_VI = {"rising": "lên", "falling": "xuống", "steady": "đứng"}
TREND_MARK = {"rising": "↑", "falling": "↓", "steady": "→"}
HAZARD_VI = {"flood": "Lũ", "flood_forecast": "Dự báo lũ", "rain": "Mưa lớn"}

Trend = Literal["rising", "falling", "steady"]


def is_public(rule: str) -> bool:
    """Rules the public may see: known to CAP and not for technicians. An unknown rule stays off the page."""
    family = FAMILIES.get(rule)
    return family is not None and family.kind != "technical"


class RiskOut(BaseModel):
    level: int = Field(ge=1, le=MAX_RISK, description="QĐ 18/2021/QĐ-TTg disaster risk level 1-5")
    colour_vi: str = Field(description="The colour QĐ 18/2021 Điều 4 gives the level, e.g. 'da cam'")
    meaning_vi: str = Field(description="What the level means, e.g. 'Rủi ro lớn'")
    label: str = Field(description="Text shown on the badge: 'Cấp 3 · da cam'")
    colour: str = Field(description="Fill colour (#RRGGBB); the hex value is the hub's, the law names colours only")
    text_colour: str


class HazardOut(BaseModel):
    key: str = Field(description="The engine's hazard key, e.g. flood:<station_id>, rain:<gauge_id>")
    name_vi: str
    level: int = Field(description="The hazard's own risk level")


class AreaOut(BaseModel):
    code: str = Field(description="GSO code of the administrative unit")
    name: str | None = Field(description="The unit's name where the hub's reference knows it")
    risk: RiskOut | None = Field(description="Current QĐ 18/2021 risk level; null: warnings without a risk level")
    hazards: list[HazardOut]
    warnings: int = Field(description="Public warnings in force in the unit")
    since: AwareDatetime | None = Field(description="When the risk level was first raised")


class StationOut(BaseModel):
    station_id: str
    name: str
    river: str
    province: str
    bd_m: tuple[float, float, float] = Field(description="BĐ1, BĐ2, BĐ3 (m, the station's datum)")
    source: str = Field(description="The decision that sets the BĐ levels")
    level_m: float | None = Field(description="Latest water level the hub has; null: none yet")
    observed_at: AwareDatetime | None
    bd_level: int | None = Field(description="BĐ level reached (0-3, with the rule's hysteresis); null: no reading")
    bd_label: str
    rate_m_per_h: float | None = Field(description="Rate of rise over the last 3 h (negative: falling)")
    trend: Trend | None
    stale: bool = Field(description="The latest reading is more than 3 h old")


class ReleaseOut(BaseModel):
    reservoir_id: str
    name: str
    province: str
    planned_open: AwareDatetime
    release_m3s: float | None = Field(description="Planned release from the opening (m³/s), where announced")
    opened: bool = Field(description="The planned opening time has passed")


class PublicAlarm(BaseModel):
    rule: str
    title_vi: str = Field(description="What kind of warning, e.g. 'Lũ trên sông'")
    subject: str
    area: str | None
    area_name: str | None
    severity: Severity
    severity_vi: str
    level: int | None
    message: str = Field(description="The rule's message, in Vietnamese")
    since: AwareDatetime
    updated_at: AwareDatetime


class PublicStatus(BaseModel):
    generated_at: AwareDatetime
    available: bool = Field(description="False: this hub runs no alert engine, so there is nothing to show")
    areas: list[AreaOut] = Field(description="Units with a public warning in force, highest risk level first")
    stations: list[StationOut] = Field(description="River stations, highest BĐ level first")
    releases: list[ReleaseOut] = Field(description="Planned spillway releases announced (not cancelled)")
    alarms: list[PublicAlarm] = Field(description="Public warnings in force, most severe first")


def _sec(ts: datetime) -> datetime:
    # Whole seconds: shorter JSON, and every browser parses it.
    return ts.astimezone(UTC).replace(microsecond=0)


def _risk(level: int) -> RiskOut:
    c = risk_colour(level)
    return RiskOut(
        level=level,
        colour_vi=c.name_vi,
        meaning_vi=RISK_MEANING_VI[level],
        label=f"Cấp {level} · {c.name_vi}",
        colour=c.hex,
        text_colour=c.text_hex,
    )


def _bd_label(level: int | None) -> str:
    if level is None:
        return "Chưa có số liệu"
    return f"BĐ{level}" if level else "Dưới BĐ1"


def _trend(rate: float | None) -> Trend | None:
    if rate is None:
        return None
    if rate > STEADY_M_PER_H:
        return "rising"
    if rate < -STEADY_M_PER_H:
        return "falling"
    return "steady"


def _unit_name(units: AdminUnits | None, code: str | None) -> str | None:
    if units is None or code is None:
        return None
    unit = units.current.get(code) or units.retired.get(code)
    return unit.name if unit is not None else None


def _station(s: FloodStation, state: Mapping[str, Any] | None, now: datetime) -> StationOut:
    level_m = observed = bd = rate = None
    if state and state.get("last_ms") and str(state["last_ms"]) in state.get("samples", {}):
        observed = datetime.fromtimestamp(int(state["last_ms"]) / 1000, UTC)
        level_m = float(state["samples"][str(state["last_ms"])])
        bd = int(state.get("level", 0))
        series = sorted((datetime.fromtimestamp(int(k) / 1000, UTC), float(v)) for k, v in state["samples"].items())
        rate = rate_of_rise_m_per_h(series, RATE_WINDOW)
    return StationOut(
        station_id=s.station_id,
        name=s.name,
        river=s.river,
        province=s.province,
        bd_m=s.thresholds,
        source=s.source,
        level_m=None if level_m is None else round(level_m, 2),
        observed_at=None if observed is None else _sec(observed),
        bd_level=bd,
        bd_label=_bd_label(bd),
        rate_m_per_h=None if rate is None else round(rate, 3),
        trend=_trend(rate),
        stale=observed is not None and now - observed > STALE_AFTER,
    )


def _hazard_name(key: str, stations: Mapping[str, FloodStation]) -> str:
    kind, _, subject = key.partition(":")
    station = stations.get(subject) if kind in ("flood", "flood_forecast") else None
    where = f"sông {station.river} tại {station.name}" if station is not None else subject
    return f"{HAZARD_VI.get(kind, kind)} {where}" if station is not None else f"{HAZARD_VI.get(kind, kind)}: {where}"


def build_status(
    tables: RuleTables | None,
    alarms: Iterable[Alarm],
    state: Mapping[str, Any],
    now: datetime,
    units: AdminUnits | None = None,
) -> PublicStatus:
    """The public status from the rule tables in force, the active alarms and the engine's rule state; pure."""
    if tables is None:
        return PublicStatus(generated_at=_sec(now), available=False, areas=[], stations=[], releases=[], alarms=[])
    flood = tables.flood.stations if tables.flood is not None else []
    by_id = {s.station_id: s for s in flood}
    public = [a for a in alarms if a.state.active and is_public(a.rule)]

    risk_by_area = {a.subject: a for a in public if a.rule == "disaster_risk" and a.level and 1 <= a.level <= MAX_RISK}
    counts: dict[str, int] = {}
    for a in public:
        if a.area is not None and a.rule not in NOT_LISTED:
            counts[a.area] = counts.get(a.area, 0) + 1
    areas = []
    for code in set(counts) | set(risk_by_area):
        risk = risk_by_area.get(code)
        raw = risk.details.get("hazards", {}) if risk is not None else {}
        hazards = [
            HazardOut(key=k, name_vi=_hazard_name(k, by_id), level=int(v))
            for k, v in sorted(raw.items(), key=lambda kv: (-int(kv[1]), kv[0]))
            if isinstance(v, int | float) and v >= 1
        ]
        areas.append(
            AreaOut(
                code=code,
                name=_unit_name(units, code),
                risk=_risk(int(risk.level)) if risk is not None and risk.level is not None else None,
                hazards=hazards,
                warnings=counts.get(code, 0),
                since=_sec(risk.started_at) if risk is not None else None,
            )
        )
    areas.sort(key=lambda a: (-(a.risk.level if a.risk else 0), -a.warnings, a.code))

    stations = [_station(s, state.get(f"flood:{s.station_id}"), now) for s in flood]
    stations.sort(key=lambda s: (-(s.bd_level or 0), s.river, s.name))

    releases = []
    reservoirs = {r.reservoir_id: r for r in tables.reservoirs.reservoirs} if tables.reservoirs is not None else {}
    for reservoir_id, plan in sorted(state.get("dam:releases", {}).items()):
        r = reservoirs.get(reservoir_id)
        if r is None or plan.get("cancelled"):
            continue
        opening = datetime.fromisoformat(plan["open"])
        if now > opening + RELEASE_SHOWN_AFTER_OPENING:
            continue
        flow = plan.get("release_m3s")
        releases.append(
            ReleaseOut(
                reservoir_id=reservoir_id,
                name=r.name,
                province=r.province,
                planned_open=_sec(opening),
                release_m3s=None if flow is None else round(float(flow)),
                opened=now >= opening,
            )
        )
    releases.sort(key=lambda r: r.planned_open)

    listed = [
        PublicAlarm(
            rule=a.rule,
            title_vi=FAMILIES[a.rule].event_vi,
            subject=a.subject,
            area=a.area,
            area_name=_unit_name(units, a.area),
            severity=a.severity,
            severity_vi=SEVERITY_VI[a.severity],
            level=a.level,
            message=a.message,
            since=_sec(a.started_at),
            updated_at=_sec(a.updated_at),
        )
        for a in public
        if a.rule not in NOT_LISTED and not (a.rule == "dam_safety" and a.subject.endswith("/release"))
    ]
    listed.sort(key=lambda a: (-a.severity.rank, -(a.level or 0), a.since, a.subject))
    return PublicStatus(
        generated_at=_sec(now), available=True, areas=areas, stations=stations, releases=releases, alarms=listed
    )


# -- the page ---------------------------------------------------------------------------------------------------
# hub/web/public.js builds the same elements from status.json; the test compares the two renderings, so any change
# here goes there too.


class _Html(str):
    """Markup already escaped."""


def _h(tag: str, cls: str | None, *children: str) -> _Html:
    inner = "".join(c if isinstance(c, _Html) else html.escape(c, quote=False) for c in children)
    attr = f' class="{cls}"' if cls else ""
    return _Html(f"<{tag}{attr}>{inner}</{tag}>")


def when(ts: datetime) -> str:
    """A time as the page shows it: Vietnam's local time, 'HH:MM dd/mm/yyyy'."""
    return f"{ts.astimezone(LOCAL_TZ):%H:%M %d/%m/%Y}"


def metres(x: float) -> str:
    return f"{x:.2f} m".replace(".", ",")


def flow(x: float) -> str:
    return f"{x:,.0f} m³/s".replace(",", ".")


def _area_label(code: str, name: str | None) -> str:
    return f"{name} (mã {code})" if name else f"Địa bàn mã {code}"


def _empty(text: str) -> _Html:
    return _h("p", "empty", text)


def _list(items: list[_Html], empty: str) -> _Html:
    return _h("ul", "list", *items) if items else _empty(empty)


def _areas(status: PublicStatus) -> _Html:
    items = []
    for a in status.areas:
        badge = _h("span", f"badge r{a.risk.level}", a.risk.label) if a.risk else _h("span", "badge r0", "Chưa có cấp")
        what = f"{a.risk.meaning_vi}. " if a.risk else ""
        items.append(
            _h(
                "li",
                "item",
                _h("div", "head", badge, _h("strong", None, _area_label(a.code, a.name))),
                _h("p", None, f"{what}{a.warnings} cảnh báo đang có hiệu lực."),
                *(
                    [_h("ul", "sub", *(_h("li", None, f"{z.name_vi}: cấp {z.level}") for z in a.hazards))]
                    if a.hazards
                    else []
                ),
            )
        )
    return _h(
        "section",
        "areas",
        _h("h2", None, "Cấp độ rủi ro thiên tai theo địa bàn"),
        _list(items, "Hiện không có địa bàn nào có cảnh báo."),
    )


def _alarms(status: PublicStatus) -> _Html:
    items = []
    for a in status.alarms:
        where = _area_label(a.area, a.area_name) if a.area else "không rõ địa bàn"
        items.append(
            _h(
                "li",
                "item",
                _h(
                    "div",
                    "head",
                    _h("span", f"badge s-{a.severity.value}", a.severity_vi),
                    _h("strong", None, a.title_vi),
                ),
                _h("p", None, a.message),
                _h("p", "meta", f"{where} · từ {when(a.since)}"),
            )
        )
    title = f"Cảnh báo đang có hiệu lực ({len(items)})"
    return _h("section", "alarms", _h("h2", None, title), _list(items, "Hiện không có cảnh báo nào."))


def _stations(status: PublicStatus) -> _Html:
    items = []
    for s in status.stations:
        cls = "badge bn" if s.bd_level is None else f"badge b{s.bd_level}"
        if s.level_m is None or s.observed_at is None:
            reading = "Chưa có số liệu đo."
        else:
            trend = f" {TREND_MARK[s.trend]} {TREND_VI[s.trend]}" if s.trend else ""
            old = " (số liệu cũ)" if s.stale else ""
            reading = f"{metres(s.level_m)}{trend} · lúc {when(s.observed_at)}{old}"
        levels = " · ".join(f"BĐ{i} {metres(v)}" for i, v in enumerate(s.bd_m, 1))
        items.append(
            _h(
                "li",
                "item",
                _h("div", "head", _h("span", cls, s.bd_label), _h("strong", None, f"Sông {s.river} · {s.name}")),
                _h("p", None, reading),
                _h("p", "meta", levels),
            )
        )
    return _h("section", "stations", _h("h2", None, "Mực nước sông"), _list(items, "Không có trạm thủy văn nào."))


def _releases(status: PublicStatus) -> _Html:
    items = []
    for r in status.releases:
        verb = "Đã mở cửa xả lúc" if r.opened else "Dự kiến mở cửa xả lúc"
        amount = f" · lưu lượng {flow(r.release_m3s)}" if r.release_m3s is not None else ""
        items.append(
            _h(
                "li",
                "item",
                _h("strong", None, f"Hồ {r.name} ({r.province})"),
                _h("p", None, f"{verb} {when(r.planned_open)}{amount}"),
            )
        )
    return _h(
        "section", "releases", _h("h2", None, "Hồ chứa thông báo xả lũ"), _list(items, "Không có thông báo xả lũ.")
    )


def render_status(status: PublicStatus) -> str:
    """The inside of <main id="status">: what the page's script rebuilds from status.json."""
    if not status.available:
        return _empty("Máy chủ này chưa bật hệ thống cảnh báo: chưa có số liệu để hiển thị.")
    return "".join((_areas(status), _alarms(status), _stations(status), _releases(status)))


def updated_text(status: PublicStatus) -> str:
    return f"Cập nhật lúc {when(status.generated_at)} (giờ Việt Nam)"


@dataclass(frozen=True)
class Assets:
    css: str
    js: str

    @property
    def csp(self) -> str:
        # Only this style sheet and this script may run: a message that somehow reached the page as markup could
        # still never run as code.
        def digest(text: str) -> str:
            return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"

        return (
            f"default-src 'none'; script-src {digest(self.js)}; style-src {digest(self.css)}; connect-src 'self'; "
            "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )


def colour_rules() -> str:
    """The badges' colours, from the palettes the rest of the hub uses: the official one for risk levels, the
    severity one for warnings and BĐ levels."""
    rules = [
        f".r{c}{{background:{risk_colour(c).hex};color:{risk_colour(c).text_hex}}}" for c in range(1, MAX_RISK + 1)
    ]
    rules += [f".s-{s.value}{{background:{fill};color:{text}}}" for s, (fill, text) in SEVERITY_COLOURS.items()]
    rules += [
        f".b{n}{{background:{SEVERITY_COLOURS[s][0]};color:{SEVERITY_COLOURS[s][1]}}}" for n, s in BD_SEVERITY.items()
    ]
    rules.append(".r0,.b0,.bn{background:#fff;color:#1b1b1b}")
    return "\n".join(rules) + "\n"


@cache
def assets() -> Assets:
    """The page's style sheet and script, read once."""
    css = (WEB_DIR / "public.css").read_text("utf-8") + colour_rules()
    return Assets(css, (WEB_DIR / "public.js").read_text("utf-8"))


def _legend() -> _Html:
    items = [
        _h("li", None, _h("span", f"badge r{n}", _risk(n).label), f" {RISK_MEANING_VI[n]}")
        for n in range(1, MAX_RISK + 1)
    ]
    return _h("ul", "legend", *items)


def render_page(status: PublicStatus, page_assets: Assets | None = None) -> str:
    """The whole page, self-contained."""
    a = page_assets or assets()
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        "<title>Tình hình thiên tai</title>"
        '<link rel="icon" href="data:,">'
        f"<style>{a.css}</style></head><body>"
        "<header><h1>Tình hình thiên tai</h1>"
        f'<p id="updated" aria-live="polite">{html.escape(updated_text(status), quote=False)}</p></header>'
        f'<main id="status">{render_status(status)}</main>'
        "<footer><h2>Cấp độ rủi ro thiên tai (QĐ 18/2021/QĐ-TTg)</h2>"
        f"{_legend()}"
        "<p>BĐ1, BĐ2, BĐ3: các cấp báo động lũ trên sông (QĐ 05/2020/QĐ-TTg). "
        "Trang tự cập nhật mỗi phút; giờ là giờ Việt Nam.</p></footer>"
        f"<script>{a.js}</script></body></html>"
    )


# -- routes -------------------------------------------------------------------------------------------------------


def _answer(call: Call, body: bytes, content_type: str, csp: str | None = None) -> web.Response:
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if csp is not None:
        headers["Content-Security-Policy"] = csp
    resp = web.Response(body=body, content_type=content_type, charset="utf-8", headers=headers)
    if accepts_gzip(call.request.headers.get("Accept-Encoding", "")):
        resp.enable_compression(ContentCoding.gzip)
    return resp


@dataclass(frozen=True)
class _Built:
    at: float
    status: PublicStatus
    json: bytes
    page: bytes


def routes(ctx: ApiContext, *, build_every_s: float = BUILD_EVERY_S) -> list[Route]:
    """``build_every_s``: how long one build of the status serves (0 in tests that watch it change)."""
    page_assets = assets()
    latest: list[_Built] = []
    lock = asyncio.Lock()

    def gather() -> PublicStatus:
        now = datetime.now(UTC)
        if ctx.alerts is None or ctx.view is None:
            return build_status(None, [], {}, now)
        tables = ctx.rules.current if ctx.rules is not None else ctx.view.tables
        alarms = ctx.alerts.alarms(active=True, limit=ALARM_SCAN)
        # The API's own read connection: a committed snapshot, never the engine's dicts the writer thread changes.
        state = ctx.alerts.rule_state()
        return build_status(tables, alarms, state, now, load_units())

    async def current() -> _Built:
        async with lock:  # one build at a time; the requests that waited share it
            if latest and time.monotonic() - latest[0].at < build_every_s:
                return latest[0]
            status = await ctx.read(gather)
            built = _Built(
                time.monotonic(),
                status,
                status.model_dump_json().encode("utf-8"),
                render_page(status, page_assets).encode("utf-8"),
            )
            latest[:] = [built]
            return built

    async def status_json(call: Call) -> web.StreamResponse:
        return _answer(call, (await current()).json, "application/json")

    async def page(call: Call) -> web.StreamResponse:
        return _answer(call, (await current()).page, "text/html", page_assets.csp)

    description = (
        "No token: public. Public warnings only (never the technicians' data_quality, data_freshness, "
        "node_offline) and nothing personal. Cached for 30 s (Cache-Control), gzip when accepted."
    )
    return [
        Route(
            "GET",
            "/public/status.json",
            status_json,
            "The public status: risk levels per unit, river stations against BĐ levels, releases, warnings",
            None,
            "public",
            response=PublicStatus,
            description=description,
        ),
        *(
            Route(
                "GET",
                path,
                page,
                "The public status page (Vietnamese, self-contained HTML, server-rendered)",
                None,
                "public",
                content_type="text/html",
                description=description,
            )
            for path in ("/public/", "/public")
        ),
    ]
