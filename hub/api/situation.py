"""The situation views' data: rivers against their BĐ levels, reservoirs, forest-fire danger, rain.

Tables (stations, reservoirs, gauges, fire areas) come from the rule tables in force; figures from InfluxDB
(hub/api/situation_series.py), read in a worker thread with a bounded wait. Without InfluxDB (or when it does not
answer) every route still lists what is configured, with ``series`` saying why there are no figures.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, Field

from hub.alerts.config import RuleTables
from hub.alerts.rules.dam_safety import Reservoir, ReservoirBand, reservoir_state
from hub.alerts.rules.flood_levels import FloodStation, flood_level, margin_to_next_level, rate_of_rise_m_per_h
from hub.alerts.rules.heavy_rain import RainBands, rain_band
from hub.alerts.rules.nesterov import level_name
from hub.api import situation_series as series
from hub.api.alerts import area_name
from hub.api.auth import Role
from hub.api.context import ApiContext
from hub.api.engine_view import read_view
from hub.api.routes import ApiError, Call, Route
from hub.api.shared_answer import SharedAnswer
from hub.feeds.units import load_units
from hub.forecast.base import Forecast
from hub.forecast.store import Queryable, latest_forecasts, prefer_official

log = logging.getLogger(__name__)
RIVERS_FRESH_S = 5.0  # the rivers list is recomputed at most this often, whatever the number of pages
RIVERS_STALE_S = 120.0  # older than this, a page waits for the new one rather than seeing it
T = TypeVar("T")

QUERY_TIMEOUT_S = 10.0
HISTORY = timedelta(hours=72)
HISTORY_STEP_S = 600  # 10-minute means: 432 points over 72 h, enough for a chart a wall display is wide
MODEL_FORECAST_MAX_AGE = timedelta(hours=6)  # the hub's own forecast is issued hourly; older is not "the forecast"
STILL_M_PER_H = 0.01  # under 1 cm/h either way the river is "standing" (đứng)
RAIN_WINDOWS_H = (1, 3, 12, 24, 72)  # 12 h: the heavy-rain bands read it beside 24 h
FIRE_WITHIN = timedelta(days=3)  # the fire rule writes a point per weather reading; older is no current level

SeriesState = Literal["ok", "not_configured", "unavailable"]
NOTES: dict[str, str | None] = {
    "ok": None,
    "not_configured": "Hub chưa kết nối cơ sở dữ liệu số đo (InfluxDB): chỉ có danh sách, chưa có số liệu.",
    "unavailable": "Tạm thời không đọc được số đo từ cơ sở dữ liệu (InfluxDB); trang sẽ thử lại.",
}
REACHED_VI = {0: "Dưới BĐ1", 1: "Trên BĐ1", 2: "Trên BĐ2", 3: "Trên BĐ3"}
ABOVE_PEAK_VI = "Vượt lũ lịch sử"
SOURCE_VI = {"official": "Bản tin dự báo chính thức", "model": "Dự báo của hệ thống"}
# The hub's methods (hub/forecast/station.py joins them with "+" when some hours fell back to persistence); an official
# forecast's method is its issuing agency, shown as it is.
METHOD_VI = {"regression": "hồi quy", "persistence": "giữ xu thế hiện tại", "mass_balance": "cân bằng nước hồ"}
# NĐ 114/2018's named levels, lowest first, with the band each one starts (hub/alerts/rules/dam_safety.py).
NAMED_LEVELS: tuple[tuple[str, str], ...] = (
    ("dead_level_m", "Mực nước chết"),
    ("pre_flood_level_m", "Mực nước trước lũ"),
    ("normal_level_m", "Mực nước dâng bình thường"),
    ("design_flood_level_m", "Mực nước lớn nhất thiết kế"),
    ("check_flood_level_m", "Mực nước lớn nhất kiểm tra"),
)
BAND_VI = {
    ReservoirBand.BELOW_DEAD: "Dưới mực nước chết",
    ReservoirBand.DEAD_TO_PRE_FLOOD: "Trên mực nước chết, dưới mực nước trước lũ",
    ReservoirBand.PRE_FLOOD_TO_NORMAL: "Trên mực nước trước lũ, dưới mực nước dâng bình thường",
    ReservoirBand.NORMAL_TO_DESIGN_FLOOD: "Trên mực nước dâng bình thường",
    ReservoirBand.DESIGN_TO_CHECK_FLOOD: "Trên mực nước lớn nhất thiết kế",
    ReservoirBand.ABOVE_CHECK_FLOOD: "Trên mực nước lớn nhất kiểm tra",
}
# TT 25/2019/TT-BNNPTNT Điều 8: the five fire-danger levels.
FIRE_VI = {1: "Cấp thấp", 2: "Cấp trung bình", 3: "Cấp cao", 4: "Cấp nguy hiểm", 5: "Cấp cực kỳ nguy hiểm"}


class Situation(BaseModel):
    series: SeriesState = Field(description="ok: figures from InfluxDB; otherwise why there are none")
    note: str | None = Field(None, description="The same, in Vietnamese, for the page")


class RiverRow(BaseModel):
    """A station in the list: what the table shows, kept small (500 stations stay near 100 KB)."""

    station_id: str
    name: str
    river: str
    bd_m: list[float] = Field(description="BĐ1, BĐ2, BĐ3 in force (m, the station's datum)")
    level_m: float | None = Field(None, description="The newest trusted reading (m), within the last 72 h")
    at: AwareDatetime | None = Field(None, description="When it was measured")
    trend_m_per_h: float | None = Field(None, description="Least-squares slope of the 3 h of readings up to the newest")
    trend_vi: str | None = Field(None, description="lên / xuống / đứng (under 1 cm/h either way)")
    reached: int | None = Field(None, description="BĐ level reached, 0-3")
    reached_vi: str | None = Field(None, description="Dưới BĐ1, Trên BĐ1 ... Vượt lũ lịch sử")


class RiverStationOut(RiverRow):
    province: str
    margin_m: float | None = Field(None, description="Metres still to rise to the next BĐ level")
    historical_peak_m: float | None = None
    above_historical_peak: bool = False
    next_level: int | None = Field(None, description="The next BĐ level above the current one")


class RiverList(Situation):
    count: int
    stations: list[RiverRow] = Field(description="Worst first: level reached, then how high within it")


class TimeSeriesOut(BaseModel):
    t: list[int] = Field(description="Epoch seconds (start of each 10-minute mean)")
    v: list[float] = Field(description="Metres")


class ForecastOut(BaseModel):
    source: str = Field(description="official (imported) or model (the hub's own)")
    source_vi: str
    method: str
    method_vi: str
    issued: AwareDatetime
    t: list[int] = Field(description="Epoch seconds of each valid time")
    level_m: list[float]
    lower_m: list[float] = Field(description="Lower edge of the band")
    upper_m: list[float] = Field(description="Upper edge of the band")


class RiverDetail(Situation):
    station: RiverStationOut
    step_s: int = HISTORY_STEP_S
    measured: TimeSeriesOut = Field(description="10-minute means over the last 72 h")
    forecast: ForecastOut | None = Field(None, description="The newest forecast (official preferred), if any")


class NamedLevelOut(BaseModel):
    key: str
    name_vi: str
    level_m: float
    reached: bool | None = Field(None, description="The level is at or above it; None without a level")


class ReleaseOut(BaseModel):
    planned_open: AwareDatetime
    release_m3s: float | None = None
    by: str | None = None
    cancelled: bool = False
    warn_by: AwareDatetime | None = Field(None, description="Downstream must be warned by then (procedure)")
    signal: str | None = None
    responsible: str | None = None
    procedure: str | None = None


class ReservoirOut(BaseModel):
    reservoir_id: str
    name: str
    province: str
    level_m: float | None = None
    at: AwareDatetime | None = None
    trend_m_per_h: float | None = None
    trend_vi: str | None = None
    band: ReservoirBand | None = None
    band_vi: str | None = None
    levels: list[NamedLevelOut]
    inflow_m3s: float | None = None
    outflow_m3s: float | None = None
    flows_at: AwareDatetime | None = None
    release: ReleaseOut | None = Field(None, description="The announced spillway release, if one is recorded")


class ReservoirList(Situation):
    reservoirs: list[ReservoirOut] = Field(description="Highest band first")


class FireAreaOut(BaseModel):
    area_id: str
    area: str | None = Field(None, description="GSO code")
    area_name: str | None = None
    province: str
    p: float | None = Field(None, description="Nesterov index P (today's term included after 13:00)")
    level: int | None = Field(None, description="Fire-danger level 1-5")
    level_roman: str | None = Field(None, description="I-V")
    level_vi: str | None = None
    at: AwareDatetime | None = None
    upper_bounds: list[float] = Field(description="Highest P of levels I-IV in this province")
    source: str


class FireList(Situation):
    areas: list[FireAreaOut] = Field(description="Highest level first")


class RainGaugeOut(BaseModel):
    gauge_id: str
    name: str = Field(description="The node's name in the registry, else the gauge id")
    area: str | None = None
    area_name: str | None = None
    acc_1h_mm: float | None = None
    acc_3h_mm: float | None = None
    acc_12h_mm: float | None = None
    acc_24h_mm: float | None = None
    acc_72h_mm: float | None = None
    band: int | None = Field(None, description="Heavy-rain band (QĐ 18/2021 Điều 44) of the 12 h / 24 h amounts")
    band_vi: str | None = None
    alarm_level: int | None = Field(None, description="Risk level of the active heavy_rain alarm, if any")


class RainList(Situation):
    gauges: list[RainGaugeOut] = Field(description="Most 24 h rain first")
    edges_24h_mm: list[float]
    edges_12h_mm: list[float]
    bands_source: str


# -- figures ---------------------------------------------------------------------------------------------------
def at(ms: int | None) -> datetime | None:
    """To the second: no one reads milliseconds off a gauge, and 500 of them weigh in the list."""
    return datetime.fromtimestamp(ms // 1000, UTC) if ms is not None else None


def trend_vi(rate: float | None) -> str | None:
    if rate is None:
        return None
    if rate >= STILL_M_PER_H:
        return "lên"
    if rate <= -STILL_M_PER_H:
        return "xuống"
    return "đứng"


def trend_of(item: series.Recent | None) -> float | None:
    if item is None:
        return None
    rate = rate_of_rise_m_per_h([(datetime.fromtimestamp(t / 1000, UTC), v) for t, v in item.points])
    return round(rate, 3) if rate is not None else None


def river_out(station: FloodStation, item: series.Recent | None) -> RiverStationOut:
    out = RiverStationOut(
        station_id=station.station_id,
        name=station.name,
        river=station.river,
        province=station.province,
        bd_m=list(station.thresholds),
        historical_peak_m=station.historical_peak_m,
    )
    if item is None:
        return out
    level = flood_level(item.last, station)
    above = station.historical_peak_m is not None and item.last > station.historical_peak_m
    margin = margin_to_next_level(item.last, station)
    rate = trend_of(item)
    return out.model_copy(
        update={
            "level_m": round(item.last, 2),
            "at": at(item.last_ms),
            "trend_m_per_h": rate,
            "trend_vi": trend_vi(rate),
            "reached": level,
            "reached_vi": ABOVE_PEAK_VI if above else REACHED_VI[level],
            "above_historical_peak": above,
            "next_level": margin[0] if margin else None,
            "margin_m": round(margin[1], 2) if margin else None,
        }
    )


def worst_first(s: RiverRow) -> tuple[int, int, float, str]:
    """Level reached, then how far up the BĐ1-BĐ3 span it stands (comparable between rivers); no reading last."""
    if s.level_m is None or s.reached is None:
        return (1, 0, 0.0, s.name)
    height = (s.level_m - s.bd_m[0]) / (s.bd_m[2] - s.bd_m[0])
    return (0, -s.reached, -height, s.name)


ROW_FIELDS = set(RiverRow.model_fields)


def rivers_out(tables: RuleTables | None, recent: dict[series.Key, series.Recent]) -> list[RiverRow]:
    stations = tables.flood.stations if tables is not None and tables.flood is not None else []
    out = [river_out(s, recent.get((s.node_id, s.sensor_id)) if s.node_id and s.sensor_id else None) for s in stations]
    return sorted((RiverRow.model_validate(s.model_dump(include=ROW_FIELDS)) for s in out), key=worst_first)


def forecast_out(f: Forecast) -> ForecastOut:
    points = sorted(f.points, key=lambda p: p.valid)
    return ForecastOut(
        source=f.source,
        source_vi=SOURCE_VI.get(f.source, f.source),
        method=f.method,
        method_vi=" + ".join(METHOD_VI.get(m, m) for m in f.method.split("+")) if f.source == "model" else f.method,
        issued=f.issued,
        t=[int(p.valid.timestamp()) for p in points],
        level_m=[round(p.level_m, 2) for p in points],
        lower_m=[round(p.lower_m, 2) for p in points],
        upper_m=[round(p.upper_m, 2) for p in points],
    )


def reservoir_out(
    r: Reservoir,
    level: series.Recent | None,
    flows: dict[tuple[str, str], tuple[int, float]],
    plan: dict[str, Any] | None,
) -> ReservoirOut:
    value = level.last if level is not None else None
    state = reservoir_state(value, r) if value is not None else None
    rate = trend_of(level)
    inflow = flows.get(("inflow", r.node_id or ""))
    outflow = flows.get(("outflow", r.node_id or ""))
    stamps = [x[0] for x in (inflow, outflow) if x is not None]
    return ReservoirOut(
        reservoir_id=r.reservoir_id,
        name=r.name,
        province=r.province,
        level_m=round(value, 2) if value is not None else None,
        at=at(level.last_ms) if level is not None else None,
        trend_m_per_h=rate,
        trend_vi=trend_vi(rate),
        band=state.band if state else None,
        band_vi=BAND_VI[state.band] if state else None,
        levels=[
            NamedLevelOut(
                key=key,
                name_vi=name,
                level_m=getattr(r, key),
                reached=None if value is None else value >= getattr(r, key),
            )
            for key, name in NAMED_LEVELS
        ],
        inflow_m3s=round(inflow[1], 1) if inflow else None,
        outflow_m3s=round(outflow[1], 1) if outflow else None,
        flows_at=at(max(stamps)) if stamps else None,
        release=release_out(r, plan),
    )


def release_out(r: Reservoir, plan: dict[str, Any] | None) -> ReleaseOut | None:
    """A plan recorded through PUT /api/reservoirs/{id}/release, as the engine keeps it (hub/alerts/engine.py)."""
    if not plan or not plan.get("open"):
        return None
    opening = datetime.fromisoformat(plan["open"])
    procedure = r.release
    return ReleaseOut(
        planned_open=opening,
        release_m3s=plan.get("release_m3s"),
        by=plan.get("by"),
        cancelled=bool(plan.get("cancelled")),
        warn_by=opening - procedure.warning_lead_time if procedure else None,
        signal=procedure.signal if procedure else None,
        responsible=procedure.responsible if procedure else None,
        procedure=procedure.procedure if procedure else None,
    )


def band_vi(band: int, bands: RainBands) -> str:
    e24, e12 = bands.edges_24h_mm, bands.edges_12h_mm
    if band == 0:
        return f"Dưới ngưỡng mưa lớn ({e24[0]:g} mm/24 giờ, {e12[0]:g} mm/12 giờ)"
    if band == 1:
        return f"Mưa lớn: từ {e24[0]:g} mm/24 giờ hoặc {e12[0]:g} mm/12 giờ"
    return f"Mưa lớn dải {band}: trên {e24[band - 1]:g} mm/24 giờ hoặc {e12[band - 1]:g} mm/12 giờ"


def tables_of(ctx: ApiContext) -> RuleTables | None:
    if ctx.rules is not None:
        return ctx.rules.current
    return ctx.view.tables if ctx.view is not None else None


async def read_series(ctx: ApiContext, fn: Callable[[Queryable], T]) -> tuple[T | None, SeriesState]:
    """``fn`` with a fresh reader in a worker thread, bounded in time; (None, why) when there are no figures."""
    make = ctx.influx
    if make is None:
        return None, "not_configured"

    def run() -> T:
        reader = make()
        try:
            return fn(reader)
        finally:
            reader.close()

    try:
        async with asyncio.timeout(QUERY_TIMEOUT_S):
            return await asyncio.to_thread(run), "ok"
    except (TimeoutError, OSError, RuntimeError, ValueError, http.client.HTTPException) as exc:
        log.warning("situation: reading InfluxDB failed: %s", exc)
        return None, "unavailable"


async def rivers_now(ctx: ApiContext) -> RiverList:
    now = datetime.now(UTC)
    found, state = await read_series(ctx, lambda db: series.recent(db, "water_level", now))
    out = rivers_out(tables_of(ctx), found or {})
    return RiverList(series=state, note=NOTES[state], count=len(out), stations=out)


def routes(ctx: ApiContext) -> list[Route]:
    # 500 stations' newest readings cost InfluxDB about 0.1 s: once per RIVERS_FRESH_S for every page
    # polling, and out of every page's way (a reading is minutes apart; an alarm reaches the page by push anyway).
    shared_rivers = SharedAnswer(lambda: rivers_now(ctx), RIVERS_FRESH_S, RIVERS_STALE_S, "situation-rivers")

    async def rivers(call: Call) -> RiverList:
        return await shared_rivers.get()

    async def river(call: Call) -> RiverDetail:
        tables = tables_of(ctx)
        station_id = call.request.match_info["station_id"]
        station = tables.flood.by_id().get(station_id) if tables is not None and tables.flood is not None else None
        if station is None:
            raise ApiError(404, f"no flood station {station_id!r} in the table in force")
        now = datetime.now(UTC)
        official_age = timedelta(hours=ctx.view.config.forecast_official_max_age_h) if ctx.view is not None else HISTORY

        def read(db: Queryable) -> tuple[series.Recent | None, list[tuple[int, float]], Forecast | None]:
            item = None
            points: list[tuple[int, float]] = []
            if station.node_id and station.sensor_id:
                key = (station.node_id, station.sensor_id)
                item = series.recent(db, "water_level", now, only=key).get(key)
                step = f"{HISTORY_STEP_S}s"
                points = series.history(db, "water_level", station.node_id, station.sensor_id, now, HISTORY, step)
            official = latest_forecasts(db, "official", now, official_age, [station_id]).get(station_id)
            model = latest_forecasts(db, "model", now, MODEL_FORECAST_MAX_AGE, [station_id]).get(station_id)
            return item, points, prefer_official(model, official)

        found, state = await read_series(ctx, read)
        item, points, forecast = found or (None, [], None)
        return RiverDetail(
            series=state,
            note=NOTES[state],
            station=river_out(station, item),
            measured=TimeSeriesOut(t=[t // 1000 for t, _ in points], v=[round(v, 2) for _, v in points]),
            forecast=forecast_out(forecast) if forecast is not None and forecast.points else None,
        )

    async def reservoirs(call: Call) -> ReservoirList:
        tables = tables_of(ctx)
        listed = tables.reservoirs.reservoirs if tables is not None and tables.reservoirs is not None else []
        now = datetime.now(UTC)

        def read(db: Queryable) -> tuple[dict[series.Key, series.Recent], dict[tuple[str, str], tuple[int, float]]]:
            return series.recent(db, "reservoir_level", now), series.latest_by_node(db, ("inflow", "outflow"), now)

        found, state = await read_series(ctx, read)
        levels, flows = found or ({}, {})
        by_node = {node: item for (node, _), item in sorted(levels.items())}
        plans = await read_view(ctx.view.releases) if ctx.view is not None and listed else {}
        out = [reservoir_out(r, by_node.get(r.node_id or ""), flows, plans.get(r.reservoir_id)) for r in listed]
        order = list(ReservoirBand)
        out.sort(key=lambda r: (-(order.index(r.band) if r.band else -1), r.name))
        return ReservoirList(series=state, note=NOTES[state], reservoirs=out)

    async def fire(call: Call) -> FireList:
        tables = tables_of(ctx)
        areas = ctx.view.config.fire_areas if ctx.view is not None else []
        now = datetime.now(UTC)
        found, state = await read_series(ctx, lambda db: series.fire_danger(db, now, FIRE_WITHIN))
        units = load_units()
        out = []
        for a in areas:
            cfg = tables.nesterov.get(a.nesterov) if tables is not None else None
            point = (found or {}).get(a.area_id)
            level = point[2] if point else None
            out.append(
                FireAreaOut(
                    area_id=a.area_id,
                    area=a.area,
                    area_name=area_name(units, a.area),
                    province=cfg.province if cfg else a.nesterov,
                    p=round(point[1]) if point else None,
                    level=level,
                    level_roman=level_name(level) if level else None,
                    level_vi=FIRE_VI.get(level) if level else None,
                    at=at(point[0]) if point else None,
                    upper_bounds=list(cfg.bands.upper_bounds) if cfg else [],
                    source=cfg.source if cfg else "",
                )
            )
        out.sort(key=lambda a: (-(a.level or 0), -(a.p or 0.0), a.area_id))
        return FireList(series=state, note=NOTES[state], areas=out)

    async def rain(call: Call) -> RainList:
        tables = tables_of(ctx)
        bands = tables.rain if tables is not None else RainBands()
        gauges = ctx.view.config.rain_gauges if ctx.view is not None else []
        now = datetime.now(UTC)
        found, state = await read_series(ctx, lambda db: series.rain_sums(db, now, RAIN_WINDOWS_H))
        known = await ctx.read(ctx.state.known_nodes)
        active = await read_view(ctx.view.active) if ctx.view is not None and gauges else []
        alarms = {a.subject: a.level for a in active if a.rule == "heavy_rain"}
        units = load_units()
        out = []
        for g in gauges:
            node = known.get(g.node_id)
            code = g.area or (node.admin_code if node else None)
            sums = (found or {}).get((g.node_id, g.sensor_id), {})
            acc = {h: round(sums.get(h, 0.0), 1) if state == "ok" else None for h in RAIN_WINDOWS_H}
            band = rain_band(acc[12] or 0.0, acc[24] or 0.0, bands) if state == "ok" else None
            out.append(
                RainGaugeOut(
                    gauge_id=g.gauge_id,
                    name=(node.name if node and node.name else g.gauge_id),
                    area=code,
                    area_name=area_name(units, code),
                    acc_1h_mm=acc[1],
                    acc_3h_mm=acc[3],
                    acc_12h_mm=acc[12],
                    acc_24h_mm=acc[24],
                    acc_72h_mm=acc[72],
                    band=band,
                    band_vi=band_vi(band, bands) if band is not None else None,
                    alarm_level=alarms.get(g.gauge_id),
                )
            )
        out.sort(key=lambda g: (-(g.acc_24h_mm or 0.0), g.name))
        return RainList(
            series=state,
            note=NOTES[state],
            gauges=out,
            edges_24h_mm=bands.edges_24h_mm,
            edges_12h_mm=bands.edges_12h_mm,
            bands_source=bands.source,
        )

    tag = "situation"
    return [
        Route(
            "GET",
            "/api/situation/rivers",
            rivers,
            "Every flood station: current level, trend and BĐ level reached, worst first",
            Role.VIEWER,
            tag,
            response=RiverList,
            description="One InfluxDB query for all stations (no series here: the detail route has them).",
        ),
        Route(
            "GET",
            "/api/situation/rivers/{station_id}",
            river,
            "One flood station: the last 72 h (10-minute means), its BĐ levels and the newest forecast",
            Role.VIEWER,
            tag,
            response=RiverDetail,
            errors=(404,),
        ),
        Route(
            "GET",
            "/api/situation/reservoirs",
            reservoirs,
            "Every reservoir: level against its named levels, inflow and outflow, the announced release",
            Role.VIEWER,
            tag,
            response=ReservoirList,
        ),
        Route(
            "GET",
            "/api/situation/fire",
            fire,
            "Forest-fire danger level (I-V) and Nesterov index per fire area",
            Role.VIEWER,
            tag,
            response=FireList,
        ),
        Route(
            "GET",
            "/api/situation/rain",
            rain,
            "Rain per gauge over 1, 3, 12, 24 and 72 h, with the heavy-rain band",
            Role.VIEWER,
            tag,
            response=RainList,
        ),
    ]
