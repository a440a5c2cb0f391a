"""The hub's forecast job: refit each station's model, issue forecasts, prefer the agencies' own, warn.

Blocking by design (InfluxDB queries, the fits): the hub calls ``run`` in a worker thread (``asyncio.to_thread``),
never on its event loop, and hands the result to its ingest writer thread (``IngestPipeline.submit``): the lines are
stored or spooled like a batch of readings, and the engine sees the forecasts between two batches
(docs/concurrency.md). ``run_once`` does both itself, for use without a hub. A station that fails (no history, a
gauge silent, InfluxDB refusing a query) is logged, counted and named in the summary; the others carry on.

Hourly values: the mean of the *good* readings (field ``quality``) of the hour ending at the labelled time, so the
value at 10:00 is what was measured from 09:00 to 10:00 and a forecast issued at 10:00 sees a complete last hour.
Rain is the exception: a gauge reports the millimetres since its previous reading (measurement ``rainfall``), so
its hour is the *sum* of its good readings; an hour with none stays missing, never dry.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from hub.alerts.config import AlertsConfig, RuleTables
from hub.config import HubInflux
from hub.feeds.sink import InfluxSink
from hub.forecast.base import HOUR, MAX_HORIZON_H, Forecast, HourlySeries
from hub.forecast.config import (
    ForecastConfig,
    ReservoirForecastConfig,
    StationForecastConfig,
    load_forecast_config,
)
from hub.forecast.rain_forecast import MAX_AGE as RAIN_FORECAST_MAX_AGE
from hub.forecast.rain_forecast import RainForecasts
from hub.forecast.rain_store import load_rain_forecasts
from hub.forecast.reservoir import forecast_reservoir
from hub.forecast.station import StationModel, fit_station
from hub.forecast.store import Kind, forecast_lines, latest_forecasts, prefer_official, to_ms

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_OFFICIAL_MAX_AGE = timedelta(hours=12)
POLL_S = 60.0  # how often the hub should call run: an issue is at most this late after its hour
# What a forecast looks back on: the longest upstream travel time the config allows (72 h) and a day besides.
RECENT = timedelta(hours=96)


class ForecastDB(Protocol):
    """InfluxDB as the job uses it (``hub.feeds.sink.InfluxSink`` is one): InfluxQL reads, one write per call."""

    def query(self, q: str) -> list[dict[str, Any]]: ...

    def write(self, lines: list[str]) -> None: ...


class Engine(Protocol):
    def forecasts(self, forecasts: Iterable[Forecast], now: datetime | None = None) -> list[str]: ...

    @property
    def tables(self) -> RuleTables: ...


@dataclass
class Summary:
    """What one ``run_once`` did."""

    issued: datetime | None = None  # None: no forecast was due
    refitted: list[str] = field(default_factory=list)
    forecasts: dict[str, str] = field(default_factory=dict)  # station -> "model:<method>" or "official:<agency>"
    errors: dict[str, str] = field(default_factory=dict)  # station -> why it has no forecast this time
    lines: int = 0


@dataclass
class ForecastRun:
    """One ``run``: what to store and what to warn on (nothing when no issue was due)."""

    summary: Summary
    lines: list[str] = field(default_factory=list)
    forecasts: list[Forecast] = field(default_factory=list)
    now: datetime | None = None


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def hourly_series(
    db: ForecastDB,
    measurement: str,
    where: Mapping[str, str],
    start: datetime,
    end: datetime,
    aggregate: Literal["mean", "sum"] = "mean",
) -> HourlySeries:
    """Hourly means (or sums) of the good readings from ``start`` to ``end`` (whole hours, both included); NaN where
    an hour has none. The value at hour t is over [t - 1 h, t)."""
    tags = " AND ".join(f'"{k}" = {_quote(v)}' for k, v in sorted(where.items()))
    q = (
        f'SELECT {aggregate}("value") AS "value" FROM "{measurement}" WHERE {tags} AND "quality" = \'good\' '
        f"AND time >= {to_ms(start - HOUR)}ms AND time < {to_ms(end)}ms GROUP BY time(1h) fill(none)"
    )
    n = round((end - start) / HOUR) + 1
    values = [math.nan] * n
    for r in db.query(q):
        if r.get("value") is None:
            continue
        i = round((int(r["time"]) - to_ms(start - HOUR)) / 3_600_000)
        if 0 <= i < n:
            values[i] = float(r["value"])
    return HourlySeries(start, tuple(values))


class ForecastJob:
    """Call ``run(now)`` (or ``run_once``) every ``POLL_S``; it refits and issues only when they are due.

    Models live in memory: after a restart every station is refitted at the first run (a fit reads
    ``history_days`` of hourly means, one query per station, and takes well under a second).
    """

    def __init__(
        self,
        config: ForecastConfig,
        tables: Callable[[], RuleTables],
        db: ForecastDB,
        engine: Engine | None,
        *,
        official_max_age: timedelta = DEFAULT_OFFICIAL_MAX_AGE,
    ) -> None:
        self.config = config
        self.tables = tables  # called at each run: threshold overrides and reloads reach the next forecast
        self.db = db
        self.engine = engine
        self.official_max_age = official_max_age
        self.models: dict[str, StationModel] = {}
        self.fitted_at: dict[str, datetime] = {}
        self.last_issued: datetime | None = None
        self._fit_tried: dict[str, datetime] = {}
        self.fit_errors: dict[str, str] = {}  # why a station has no model: repeated at each forecast it misses
        self.counters = {
            "runs": 0,
            "fits": 0,
            "fit_errors": 0,
            "forecasts": 0,
            "forecast_errors": 0,
            "official": 0,
            "write_errors": 0,
            "engine_errors": 0,
        }

    def close(self) -> None:
        """Close the InfluxDB connections (blocking: from a worker thread at the hub's stop)."""
        close = getattr(self.db, "close", None)
        if close is not None:
            close()

    # -- where each station's readings are -----------------------------------------------------------------------
    def _river_sensor(self, tables: RuleTables, station_id: str) -> dict[str, str]:
        station = tables.flood.by_id().get(station_id) if tables.flood is not None else None
        if station is None or not station.node_id or not station.sensor_id:
            raise ValueError(f"station {station_id}: no node_id / sensor_id in the flood station table")
        return {"node_id": station.node_id, "sensor_id": station.sensor_id}

    def _river_series(
        self, tables: RuleTables, cfg: StationForecastConfig, start: datetime, end: datetime
    ) -> dict[str, HourlySeries]:
        out = {}
        for sid in [cfg.station_id, *(u.station_id for u in cfg.upstream)]:
            out[sid] = hourly_series(self.db, "water_level", self._river_sensor(tables, sid), start, end)
        for g in cfg.rain:
            where = {"node_id": g.node_id, "sensor_id": g.sensor_id}
            out[g.key] = hourly_series(self.db, "rainfall", where, start, end, aggregate="sum")
        return out

    # -- one run -------------------------------------------------------------------------------------------------
    def run(self, now: datetime | None = None) -> ForecastRun:
        """Refit what is due and, when an issue is due, make the forecasts and choose one per station; reads only.

        The hub stores ``lines`` and calls ``AlertEngine.forecasts(forecasts, now)`` on its writer thread
        (``IngestPipeline.submit``), like every batch: stored or spooled, and the engine's alarm lines with them."""
        now = now or datetime.now(UTC)
        issued = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        summary = Summary()
        self.counters["runs"] += 1
        tables = self.tables()
        self._refit(tables, issued, summary)
        if self.last_issued is not None and issued - self.last_issued < self.config.issue_every_h * HOUR:
            return ForecastRun(summary)
        summary.issued = issued
        own: dict[str, tuple[Forecast, Kind]] = {}
        for cfg in self.config.stations:
            f = self._guard(summary, cfg.station_id, "forecast_errors", self._river, tables, cfg, issued)
            if f is not None:
                own[cfg.station_id] = (f, "river")
        for rcfg in self.config.reservoirs:
            f = self._guard(summary, rcfg.reservoir_id, "forecast_errors", self._reservoir, tables, rcfg, issued)
            if f is not None:
                own[rcfg.reservoir_id] = (f, "reservoir")
        lines = [ln for f, kind in own.values() for ln in forecast_lines(f, kind)]
        chosen = self._choose(tables, {k: f for k, (f, _) in own.items()}, now, summary)
        self.last_issued = issued
        self.counters["forecasts"] += len(own)
        summary.lines = len(lines)
        return ForecastRun(summary, lines, chosen, now)

    def run_once(self, now: datetime | None = None) -> Summary:
        """``run``, then write the lines and hand the chosen forecasts to the engine here (without the hub's
        ingest pipeline: tools, tests). A failed write or engine call is logged and counted."""
        result = self.run(now)
        summary = result.summary
        summary.lines = self._write("forecasts", result.lines, summary)
        if self.engine is not None and result.forecasts:
            try:
                warned = self.engine.forecasts(result.forecasts, result.now)
            except Exception as exc:
                self.counters["engine_errors"] += 1
                summary.errors["engine"] = f"{type(exc).__name__}: {exc}"
                log.exception("the alert engine failed on the forecasts")
                warned = []
            # The engine keeps its alarm lines until told they are stored (AlertEngine.lines_stored, the ingest
            # writer's call): writing them here too only rewrites identical points.
            summary.lines += self._write("warnings", warned, summary)
        return summary

    def _write(self, what: str, lines: list[str], summary: Summary) -> int:
        """A failed write is logged and counted; the warnings are evaluated all the same (they matter more)."""
        if not lines:
            return 0
        try:
            self.db.write(lines)
        except Exception as exc:
            self.counters["write_errors"] += 1
            summary.errors[f"write:{what}"] = str(exc)
            log.warning("writing %s to InfluxDB failed: %s", what, exc)
            return 0
        return len(lines)

    def _guard(self, summary: Summary, sid: str, counter: str, work: Callable[..., T], *args: Any) -> T | None:
        try:
            return work(*args)
        except Exception as exc:  # one station's trouble (data, a query, a method's refusal) never stops the job
            self.counters[counter] += 1
            summary.errors[sid] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)
            log.warning("forecast %s: %s", sid, summary.errors[sid])
            return None

    def _refit(self, tables: RuleTables, issued: datetime, summary: Summary) -> None:
        for cfg in self.config.stations:
            fitted = self.fitted_at.get(cfg.station_id)
            if fitted is not None and issued - fitted < self.config.refit_every_h * HOUR:
                continue
            if self._fit_tried.get(cfg.station_id) == issued:
                continue  # failed this hour already: try again at the next hour, not at every run
            self._fit_tried[cfg.station_id] = issued
            start = issued - timedelta(days=cfg.history_days) + HOUR
            history = self._guard(summary, cfg.station_id, "fit_errors", self._river_series, tables, cfg, start, issued)
            rain_fc = self._guard(summary, cfg.station_id, "fit_errors", self._rain_forecasts, cfg, start, issued)
            model = (
                None
                if history is None
                else self._guard(summary, cfg.station_id, "fit_errors", fit_station, cfg, history, rain_fc)
            )
            if model is None:
                self.fit_errors[cfg.station_id] = summary.errors[cfg.station_id]
                continue
            self.fit_errors.pop(cfg.station_id, None)
            self.models[cfg.station_id] = model
            self.fitted_at[cfg.station_id] = issued
            self.counters["fits"] += 1
            summary.refitted.append(cfg.station_id)

    def _river(self, tables: RuleTables, cfg: StationForecastConfig, issued: datetime) -> Forecast:
        model = self.models.get(cfg.station_id)
        if model is None:
            raise ValueError(self.fit_errors.get(cfg.station_id, f"station {cfg.station_id}: no fitted model"))
        recent = self._river_series(tables, cfg, issued - RECENT, issued)
        rain_fc = self._rain_forecasts(cfg, issued, issued) if model.rain_forecast_area is not None else None
        return model.forecast(recent, issued, min(self.config.horizon_h, MAX_HORIZON_H), rain_fc)

    def _rain_forecasts(self, cfg: StationForecastConfig, start: datetime, end: datetime) -> RainForecasts | None:
        """The issues for the station's area that forecasts from ``start`` to ``end`` could read; None when the
        station has no area configured."""
        if cfg.rain_forecast is None:
            return None
        return load_rain_forecasts(self.db, cfg.rain_forecast, start, end, RAIN_FORECAST_MAX_AGE)

    def _reservoir(self, tables: RuleTables, cfg: ReservoirForecastConfig, issued: datetime) -> Forecast:
        """Mass balance with the last hour's inflow held over the horizon, and the last hour's release until a
        planned opening recorded with its flow (``PUT /api/reservoirs/{id}/release``), that flow from then on: the
        hub has no inflow forecast of its own, and an imported official forecast replaces this one where the
        agency gives one."""
        rid = cfg.reservoir_id
        reservoir = (
            next((r for r in tables.reservoirs.reservoirs if r.reservoir_id == rid), None)
            if tables.reservoirs
            else None
        )
        node = reservoir.node_id if reservoir is not None else None
        start = issued - 6 * HOUR

        def last(measurement: str, node_id: str | None, sensor_id: str | None) -> float:
            where = {"node_id": node_id or node or ""}
            if sensor_id:
                where["sensor_id"] = sensor_id
            if not where["node_id"]:
                raise ValueError(f"reservoir {rid}: no node reports its {measurement}")
            values = [v for v in hourly_series(self.db, measurement, where, start, issued).values if not math.isnan(v)]
            if not values:
                raise ValueError(f"reservoir {rid}: no good {measurement} reading in the last 6 h")
            return values[-1]

        level = last("reservoir_level", cfg.level_node_id, cfg.level_sensor_id)
        inflow = last("inflow", cfg.inflow_node_id, cfg.inflow_sensor_id)
        outflow = last("outflow", cfg.outflow_node_id, cfg.outflow_sensor_id)
        h = self.config.horizon_h
        return forecast_reservoir(cfg, level, issued, [inflow] * h, self._releases(rid, outflow, issued, h), h)

    def _releases(self, reservoir_id: str, outflow: float, issued: datetime, hours: int) -> list[float]:
        """The release (m³/s) for each hour of the horizon: the measured outflow, then a planned release's flow
        from the hour its gates open (a plan already in force counts from the issue)."""
        planned = getattr(self.engine, "planned_release", None)
        plan = planned(reservoir_id) if planned is not None else None
        if plan is None:
            return [outflow] * hours
        opens, flow = plan
        # Hour k covers (issued + k h, issued + (k + 1) h]: the plan applies to hours ending after the opening.
        return [flow if issued + (k + 1) * HOUR > opens else outflow for k in range(hours)]

    def _choose(self, tables: RuleTables, own: dict[str, Forecast], now: datetime, summary: Summary) -> list[Forecast]:
        """Per station, the official forecast when a fresh one exists, else the hub's own."""
        known = set(own)
        if tables.flood is not None:
            known |= {s.station_id for s in tables.flood.stations}
        if tables.reservoirs is not None:
            known |= {r.reservoir_id for r in tables.reservoirs.reservoirs}
        try:
            official = latest_forecasts(self.db, "official", now, self.official_max_age, known)
        except Exception as exc:  # InfluxDB refusing the read: warn on the hub's own forecasts all the same
            log.warning("reading official forecasts failed: %s", exc)
            summary.errors["official"] = str(exc)
            official = {}
        chosen = []
        for sid in sorted(known):
            f = prefer_official(own.get(sid), official.get(sid))
            if f is None:
                continue
            if f.source == "official":
                self.counters["official"] += 1
            summary.forecasts[sid] = f"{f.source}:{f.method}"
            chosen.append(f)
        return chosen


def open_forecast_job(
    alerts: AlertsConfig, influx: HubInflux, engine: Engine, base: Path | None = None
) -> ForecastJob | None:
    """The hub's job, or None when ``alerts.forecast`` is unset. Reads the forecast file (and the InfluxDB token):
    call it on the hub's start path in a worker thread, after the engine is built. ConfigError on a bad file."""
    if alerts.forecast is None:
        return None
    path = alerts.forecast if alerts.forecast.is_absolute() or base is None else base / alerts.forecast
    return ForecastJob(
        load_forecast_config(path),
        lambda: engine.tables,  # the engine's current tables: reloads and threshold overrides included
        InfluxSink(influx),
        engine,
        official_max_age=timedelta(hours=alerts.forecast_official_max_age_h),
    )
