"""The map's points: stations, cameras and nodes with their positions and current levels (GET /api/map).

The page asks every few seconds with hundreds of points on the map, so the answer is built in one pass over the
registry and one over the active alarms, and kept small: names and words, not the alarms themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from hub.alerts.alarm import Alarm
from hub.alerts.config import RainGauge, RuleTables
from hub.alerts.rules.risk_level import RISK_COLOURS
from hub.alerts.rules.severity import Severity
from hub.api.alerts import NODE_SUBJECTS, SEVERITY_COLOURS, area_name, display
from hub.api.auth import Role
from hub.api.console_settings import LiveCamera
from hub.api.context import ApiContext
from hub.api.engine_view import read_view
from hub.api.public_page import SEVERITY_VI
from hub.api.routes import Call, Route
from hub.feeds.units import AdminUnits, load_units

PointKind = Literal["station", "reservoir", "rain_gauge", "camera", "area", "node"]
Link = Literal["online", "offline", "stopped", "silent", "never_seen"]  # /api/nodes' words for the same states
KIND_ORDER: dict[str, int] = {
    k: i for i, k in enumerate(("area", "station", "reservoir", "rain_gauge", "camera", "node"))
}
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}
# Alarms about a node's own working (a stale sensor, a lost link) rather than a hazard: they are listed on each of the
# node's points, but colour only a plain node's marker, so a silent gauge never paints a river station as a flood.
TECHNICAL = NODE_SUBJECTS - {"camera_fire"}
# No active alarm: green, a colour neither the severity palette nor the QĐ 18/2021 levels use. A node that is not
# heard from and has no alarm is grey: its level is unknown, not normal.
QUIET = ("#43A047", "#FFFFFF", "Bình thường")
UNKNOWN = ("#9E9E9E", "#000000", "Không rõ (thiết bị không trực tuyến)")
# An area at its fire danger level is shown by the situation's fire view; at its risk level, by the alerts.
FIRE_VIEW = "#situation/fire"
DECIMALS = 5  # about a metre: enough for a map, and it keeps the answer small


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MapSwatch(_Body):
    key: str = Field(description="severity, risk level (1-5), 'quiet' or 'unknown'")
    words: str = Field(description="What the colour means, in Vietnamese")
    fill: str = Field(description="#RRGGBB")
    text: str = Field(description="Text colour on that fill")


class MapLegend(_Body):
    """The colours the points wear: the hub's severity palette, the QĐ 18/2021 risk colours that an area's risk level
    wears, and the two colours of a point with no active alarm."""

    severities: list[MapSwatch] = Field(description="Most severe first")
    risk: list[MapSwatch] = Field(description="QĐ 18/2021/QĐ-TTg risk levels 1-5")
    quiet: MapSwatch = Field(description="No active alarm, the node online")
    unknown: MapSwatch = Field(description="No active alarm, the node not online: its level is not known")


class MapAlarm(_Body):
    rule: str
    severity: Severity
    words: str = Field(description="Its level in words: 'Báo động II (BĐ2)', 'Cấp 3 · da cam', 'Nguy hiểm'")


class MapLevel(_Body):
    """The worst active alarm of the point, as the page colours it."""

    rule: str
    severity: Severity
    words: str = Field(description="Its level in words: 'Báo động II (BĐ2)', 'Cấp 3 · da cam', 'Nguy hiểm'")
    fill: str = Field(description="One of the legend's fills: its text colour and meaning are there")


class MapPoint(_Body):
    id: str = Field(description="<kind>:<key>, e.g. station:hong-long-bien, camera:node-1/cam-a, area:01")
    kind: PointKind
    name: str = Field(description="The station's, reservoir's, area's or node's name; the id where none is known")
    node: str | None = Field(None, description="The node that reports it")
    area: str | None = Field(None, description="A key of `areas`: its administrative unit's name")
    lat: float | None = Field(None, description="WGS 84; null: no position yet (listed beside the map)")
    lon: float | None = None
    link: Link | None = Field(None, description="Its node's link, as /api/nodes judges it; null for areas")
    level: MapLevel | None = Field(None, description="null: no active alarm")
    also: list[MapAlarm] = Field(
        default_factory=list, description="Its other active alarms, worst first (stale data, offline, other rules)"
    )
    href: str = Field(description="Where the page shows more: #situation/rivers/<station>, #cameras/<node>/<camera>")


class MapOut(_Body):
    tiles_url: str | None = Field(description="XYZ tile URL, or null: no base layer (points and names only)")
    attribution: str
    max_zoom: int
    center: tuple[float, float]
    zoom: int
    legend: MapLegend
    areas: dict[str, str] = Field(description="Area names the points refer to, by key (a GSO code, or a table's text)")
    points: list[MapPoint] = Field(description="Areas first, then stations, reservoirs, rain gauges, cameras, nodes")


def _swatch(key: str, colours: tuple[str, str, str]) -> MapSwatch:
    fill, text, words = colours
    return MapSwatch(key=key, words=words, fill=fill, text=text)


LEGEND = MapLegend(
    severities=[
        _swatch(s.value, (*SEVERITY_COLOURS[s], SEVERITY_VI[s])) for s in sorted(Severity, key=lambda s: -s.rank)
    ],
    risk=[_swatch(str(c.level), (c.hex, c.text_hex, f"Cấp {c.level} · {c.name_vi}")) for c in RISK_COLOURS],
    quiet=_swatch("quiet", QUIET),
    unknown=_swatch("unknown", UNKNOWN),
)


def level_words(alarm: Alarm) -> str:
    """A level as an officer says it: the BĐ level of a river, the risk level with its colour's name, else the
    severity."""
    n = alarm.level
    if alarm.rule == "flood_level" and n in (1, 2, 3):
        return f"Báo động {ROMAN[n]} (BĐ{n})"
    if alarm.rule == "flood_forecast" and n in (1, 2, 3):
        return f"Dự báo vượt báo động {ROMAN[n]} (BĐ{n})"
    if alarm.rule == "forest_fire_danger" and n in ROMAN:
        return f"Cấp cháy rừng {ROMAN[n]}"
    shown = display(alarm)
    return shown.label if shown.official else SEVERITY_VI[alarm.severity]


def _rank(alarm: Alarm) -> tuple[int, int, int]:
    return alarm.severity.rank, alarm.rule == "disaster_risk", alarm.level or 0


@dataclass
class _Draft:
    id: str
    kind: PointKind
    name: str
    href: str
    node: str | None = None
    area: str | None = None
    lat: float | None = None
    lon: float | None = None
    link: Link | None = None
    worst: Alarm | None = None
    alarms: list[Alarm] = field(default_factory=list)
    coded: bool = False  # ``area`` is a GSO code, not a rule table's free text (a province's name)

    def place(self, code: str | None) -> None:
        if code:
            self.area, self.coded = code, True

    def attach(self, alarm: Alarm, colours: bool) -> None:
        self.alarms.append(alarm)
        if not self.coded:
            self.place(alarm.area)
        if colours and (self.worst is None or _rank(alarm) > _rank(self.worst)):
            self.worst = alarm

    def out(self) -> MapPoint:
        level = None
        if self.worst is not None:
            shown = display(self.worst)
            level = MapLevel(
                rule=self.worst.rule,
                severity=self.worst.severity,
                words=level_words(self.worst),
                fill=shown.fill,
            )
        others = sorted((a for a in self.alarms if a is not self.worst), key=_rank, reverse=True)
        return MapPoint(
            id=self.id,
            kind=self.kind,
            name=self.name,
            node=self.node,
            area=self.area,
            lat=None if self.lat is None else round(self.lat, DECIMALS),
            lon=None if self.lon is None else round(self.lon, DECIMALS),
            link=self.link,
            level=level,
            also=[MapAlarm(rule=a.rule, severity=a.severity, words=level_words(a)) for a in others],
            href=FIRE_VIEW if self.worst is not None and self.worst.rule == "forest_fire_danger" else self.href,
        )


def link_of(row: dict[str, Any], now: float, offline_after_s: float) -> Link:
    """As /api/nodes says it: what the node last reported (offline: its last will; stopped: a goodbye), else online
    while heard within ``offline_after_s`` and silent after."""
    last = row.get("last_seen")
    if not isinstance(last, float | int):
        return "never_seen"
    state = row.get("state")
    if state == "offline" or state == "stopped":
        return state
    return "online" if now - last < offline_after_s else "silent"


def status_cameras(row: dict[str, Any]) -> list[str]:
    """Cameras a node reports in its status: each one's frame rate comes as extra ``cam.<camera>.fps``."""
    status = row.get("last_status") or {}
    extra = status.get("extra") if isinstance(status, dict) else None
    if not isinstance(extra, dict):
        return []
    return sorted(k[4:-4] for k in extra if k.startswith("cam.") and k.endswith(".fps") and len(k) > 8)


class PointBuilder:
    """Points by id, and an index from what alarms name (station, reservoir, gauge, camera, area, node) to them."""

    def __init__(self, nodes: Sequence[dict[str, Any]], units: AdminUnits, now: float, offline_after_s: float):
        self.units = units
        self.rows = {str(r["node_id"]): r for r in nodes}
        self.links = {n: link_of(r, now, offline_after_s) for n, r in self.rows.items()}
        self.points: dict[str, _Draft] = {}
        self.of_node: dict[str, list[_Draft]] = {}

    def node_name(self, node_id: str | None) -> str | None:
        row = self.rows.get(node_id or "")
        return str(row["name"]) if row and row.get("name") else None

    def add(self, kind: PointKind, key: str, name: str, href: str, node: str | None, area: str | None) -> _Draft:
        """A point placed at its node; ``area`` (a name) stands until a code is known (the node's, an alarm's)."""
        draft = _Draft(id=f"{kind}:{key}", kind=kind, name=name, href=href, node=node, area=area)
        row = self.rows.get(node or "")
        if node is not None:
            draft.link = self.links.get(node, "never_seen")
            self.of_node.setdefault(node, []).append(draft)
        if row is not None:
            draft.place(row.get("admin_code"))
            draft.lat, draft.lon = row.get("lat"), row.get("lon")
        self.points[draft.id] = draft
        return draft

    def from_tables(self, tables: RuleTables | None) -> None:
        """Stations and reservoirs of the rule tables in force (overrides applied), each at its node."""
        if tables is not None and tables.flood is not None:
            for s in tables.flood.stations:
                self.add("station", s.station_id, s.name, f"#situation/rivers/{s.station_id}", s.node_id, s.province)
        if tables is not None and tables.reservoirs is not None:
            for r in tables.reservoirs.reservoirs:
                href = f"#situation/reservoirs/{r.reservoir_id}"
                self.add("reservoir", r.reservoir_id, r.name, href, r.node_id, r.province)

    def cameras(self, configured: Sequence[LiveCamera]) -> None:
        """The console's live cameras (with their names), then those the nodes report in their status."""
        for c in configured:
            self.camera(c.node_id, c.camera, c.name)
        for node_id, row in self.rows.items():
            for camera in status_cameras(row):
                self.camera(node_id, camera)

    def camera(self, node: str, camera: str, name: str | None = None) -> _Draft:
        found = self.points.get(f"camera:{node}/{camera}")
        if found is not None:
            return found
        label = name or f"Camera {camera} · {self.node_name(node) or node}"
        return self.add("camera", f"{node}/{camera}", label, f"#cameras/{node}/{camera}", node, None)

    def area(self, code: str) -> _Draft:
        """A locality wearing its risk level, at the reference table's centre of the unit (when it has one)."""
        found = self.points.get(f"area:{code}")
        if found is not None:
            return found
        draft = self.add("area", code, area_name(self.units, code) or code, "#alerts", None, None)
        draft.place(code)
        unit = self.units.current.get(code) or self.units.retired.get(code)
        if unit is not None:
            draft.lat, draft.lon = unit.lat, unit.lon
        return draft

    def targets(self, alarm: Alarm) -> Iterable[tuple[_Draft, bool]]:
        """The points an alarm is about, each with whether it sets that point's colour."""
        rule, subject = alarm.rule, alarm.subject
        head, _, rest = subject.partition("/")
        found: _Draft | None = None
        if rule in ("flood_level", "flood_forecast"):
            found = self.points.get(f"station:{subject}")
        elif rule in ("dam_safety", "reservoir_forecast"):
            found = self.points.get(f"reservoir:{head}")  # dam subjects: <reservoir>/level, <reservoir>/rise, ...
        elif rule == "heavy_rain":
            found = self.points.get(f"rain_gauge:{subject}")
        elif rule == "camera_fire" and rest:
            found = self.camera(head, rest.partition("/")[0])  # an event is proof enough that the camera exists
        elif rule == "disaster_risk":
            found = self.area(subject)
        elif rule == "forest_fire_danger" and alarm.area:
            found = self.area(alarm.area)
        elif rule in TECHNICAL:
            return [(p, p.kind == "node") for p in self.of_node.get(head, [])]
        return [(found, True)] if found is not None else []


def build_points(
    nodes: Sequence[dict[str, Any]],
    active: Iterable[Alarm],
    tables: RuleTables | None,
    gauges: Sequence[RainGauge],
    cameras: Sequence[LiveCamera],
    *,
    now: float,
    offline_after_s: float,
    units: AdminUnits | None = None,
) -> tuple[list[MapPoint], dict[str, str]]:
    """Every station, reservoir, rain gauge, camera and remaining node, with or without a position, coloured by
    the worst active alarm on it; areas appear while they have a risk level or fire danger alarm. With the names of
    the areas the points refer to."""
    b = PointBuilder(nodes, units or load_units(), now, offline_after_s)
    b.from_tables(tables)
    for g in gauges:
        name = b.node_name(g.node_id) or g.gauge_id  # the gauge table has no names: the node's is the one people know
        b.add("rain_gauge", g.gauge_id, name, f"#situation/rain/{g.gauge_id}", g.node_id, None).place(g.area)
    b.cameras(cameras)
    for node_id in b.rows:
        if node_id not in b.of_node:
            b.add("node", node_id, b.node_name(node_id) or node_id, f"#nodes/{node_id}", node_id, None)
    for alarm in active:
        if alarm.state.active:
            for point, colours in b.targets(alarm):
                point.attach(alarm, colours)
    drafts = sorted(b.points.values(), key=lambda d: (KIND_ORDER[d.kind], d.id))
    # Names once per area rather than on each point: hundreds of stations share a few provinces.
    areas = {d.area: (area_name(b.units, d.area) if d.coded else None) or d.area for d in drafts if d.area}
    return [d.out() for d in drafts], areas


def routes(ctx: ApiContext) -> list[Route]:
    def points(nodes: list[dict[str, Any]], active: list[Alarm]) -> tuple[list[MapPoint], dict[str, str]]:
        view = ctx.view
        return build_points(
            nodes,
            active,
            ctx.rules.current if ctx.rules is not None else None,
            view.config.rain_gauges if view is not None else [],
            ctx.console.cameras,
            now=time.time(),
            offline_after_s=ctx.offline_after_s,
        )

    async def get_map(call: Call) -> web.StreamResponse:
        nodes = await ctx.read(ctx.state.nodes)
        active = await read_view(ctx.view.active) if ctx.view is not None else []
        found, areas = await asyncio.to_thread(points, nodes, active)
        settings = ctx.console.map
        out = MapOut(
            tiles_url=settings.tiles_url,
            attribution=settings.attribution,
            max_zoom=settings.max_zoom,
            center=settings.center,
            zoom=settings.zoom,
            legend=LEGEND,
            areas=areas,
            points=found,
        )
        # A field at its default (no level, no other alarms, no position) is left out: at 600 points, that is a
        # fifth of the answer. Compressed when the browser accepts it.
        body = out.model_dump_json(exclude_defaults=True).encode("utf-8")
        resp = web.Response(body=body, content_type="application/json", charset="utf-8")
        resp.enable_compression()
        return resp

    return [
        Route(
            "GET",
            "/api/map",
            get_map,
            "The map: its base layer settings and every station, reservoir, gauge, camera and node with its level",
            Role.VIEWER,
            "console",
            response=MapOut,
            description="Points without a position have lat and lon null (the page lists them beside the map). A "
            "point's level is its worst active alarm: the hub's severity palette, or the QĐ 18/2021 colour of an "
            "area's risk level; alarms about a node's own working (stale data, offline) colour only plain nodes.",
        ),
    ]
