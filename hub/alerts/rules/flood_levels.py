"""Flood alarm levels BĐ1-3 at river stations (QĐ 05/2020/QĐ-TTg): level reached, hysteresis, rate of rise, margin."""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.alerts.rules.base import Text, repeated, require_finite
from hub.alerts.rules.levels import MAX_ALARM_SPAN_M, LevelM
from plumbing.configfile import ConfigError, load_yaml_model
from wire.messages import Identifier

MAX_LEVEL = 3


class FloodStation(BaseModel):
    """One hydrological station and its flood alarm levels, in metres on the station's own datum."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    station_id: Identifier = Field(description="Stable id of the station (its SensorThings Thing), used in alerts")
    node_id: Identifier | None = Field(None, description="Node whose sensor reports this station's water level")
    sensor_id: Identifier | None = Field(None, description="That sensor's id on the node (quantity water_level)")
    river: Text = Field(description="River (sông) the station is on")
    name: Text = Field(description="Station name (trạm thủy văn)")
    province: Text = Field(description="Province the station is in")
    bd1_m: LevelM = Field(description="BĐ1 (báo động I): a flood begins, still inside the channel")
    bd2_m: LevelM = Field(description="BĐ2 (báo động II): medium flood, starting to inundate")
    bd3_m: LevelM = Field(description="BĐ3 (báo động III): large, dangerous flood")
    source: Text = Field(description="Decision that sets these levels, e.g. 'QĐ 05/2020/QĐ-TTg' or a province's")
    historical_peak_m: LevelM | None = Field(None, description="Lũ lịch sử: the highest peak on record; above BĐ3")
    hysteresis_m: float = Field(
        0.05, ge=0, description="A falling stage leaves a level only once it is this far below the level's threshold"
    )
    zone: int | None = Field(
        None, ge=1, le=4, description="Khu vực 1-4 of QĐ 18/2021/QĐ-TTg Điều 45, for the flood risk level"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FloodStation:
        if not self.bd1_m < self.bd2_m:
            raise ValueError(f"bd1_m ({self.bd1_m}) must be below bd2_m ({self.bd2_m})")
        if not self.bd2_m < self.bd3_m:
            raise ValueError(f"bd2_m ({self.bd2_m}) must be below bd3_m ({self.bd3_m})")
        if self.bd3_m - self.bd1_m > MAX_ALARM_SPAN_M:
            raise ValueError(
                f"bd3_m - bd1_m is {self.bd3_m - self.bd1_m:g} m: more than {MAX_ALARM_SPAN_M:g} m between BĐ1 and BĐ3 "
                "is a typing slip, not a river"
            )
        if self.historical_peak_m is not None and not self.historical_peak_m > self.bd3_m:
            raise ValueError(f"historical_peak_m ({self.historical_peak_m}) must be above bd3_m ({self.bd3_m})")
        # A hysteresis as wide as a band would hold a level while the stage sits a whole band lower.
        gap = min(self.bd2_m - self.bd1_m, self.bd3_m - self.bd2_m)
        if not self.hysteresis_m < gap:
            raise ValueError(f"hysteresis_m ({self.hysteresis_m}) must be smaller than the narrowest band ({gap:g} m)")
        if (self.node_id is None) != (self.sensor_id is None):
            raise ValueError("give node_id and sensor_id together, or neither")
        return self

    @property
    def thresholds(self) -> tuple[float, float, float]:
        """(BĐ1, BĐ2, BĐ3)."""
        return (self.bd1_m, self.bd2_m, self.bd3_m)


def flood_level(stage: float, station: FloodStation) -> int:
    """0 below BĐ1, else the highest level whose threshold the stage has reached (a stage equal to BĐn is at n)."""
    require_finite(stage, "water level")
    return sum(1 for threshold in station.thresholds if stage >= threshold)


def flood_level_hysteresis(stage: float, station: FloodStation, previous_level: int) -> int:
    """The level after ``previous_level``: rising takes the new level at once (several levels if need be);
    falling keeps each level until the stage is more than ``hysteresis_m`` below its threshold, so a stage
    hovering on a threshold does not flap."""
    if not 0 <= previous_level <= MAX_LEVEL:
        raise ValueError(f"previous_level must be 0-{MAX_LEVEL}, not {previous_level}")
    level = flood_level(stage, station)
    if level >= previous_level:
        return level
    for held in range(previous_level, level, -1):
        if stage >= station.thresholds[held - 1] - station.hysteresis_m:
            return held
    return level


def rate_of_rise_m_per_h(samples: Sequence[tuple[datetime, float]], window: timedelta | None = None) -> float | None:
    """Least-squares slope of stage over time, m/h (negative when falling).

    ``window`` keeps the samples no older than the newest minus ``window``. A fitted slope, unlike the difference
    of the last two readings, is not thrown by one noisy reading. Non-finite stages are skipped. None with fewer
    than two samples or when they all share one timestamp.
    """
    points = [(ts, v) for ts, v in samples if math.isfinite(v)]
    if window is not None and points:
        start = max(ts for ts, _ in points) - window
        points = [(ts, v) for ts, v in points if ts >= start]
    if len(points) < 2:
        return None
    t0 = points[0][0]
    xs = [(ts - t0).total_seconds() / 3600.0 for ts, _ in points]
    ys = [v for _, v in points]
    x_mean = math.fsum(xs) / len(xs)
    y_mean = math.fsum(ys) / len(ys)
    sxx = math.fsum((x - x_mean) ** 2 for x in xs)
    if sxx == 0:
        return None
    sxy = math.fsum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def _margin(stage: float, station: FloodStation, level: int) -> tuple[int, float] | None:
    if level >= MAX_LEVEL:
        return None
    return level + 1, station.thresholds[level] - stage


def margin_to_next_level(stage: float, station: FloodStation) -> tuple[int, float] | None:
    """(next level, metres still to rise to it); None at BĐ3 and above."""
    return _margin(stage, station, flood_level(stage, station))


@dataclass(frozen=True, slots=True)
class FloodAssessment:
    """What one water-level reading means at its station."""

    station_id: str
    stage_m: float
    level: int  # 0-3, after hysteresis when a previous level was given
    above_level_m: float | None  # stage minus the threshold of ``level`` (negative while held by hysteresis)
    next_level: int | None  # None at level 3
    margin_m: float | None  # metres to rise to ``next_level``
    rate_m_per_h: float | None
    hours_to_next_level: float | None  # at the current rate; None unless rising toward a next level
    above_historical_peak: bool


def assess_flood(
    stage: float,
    station: FloodStation,
    previous_level: int | None = None,
    samples: Sequence[tuple[datetime, float]] = (),
    window: timedelta | None = None,
) -> FloodAssessment:
    """Level (with hysteresis when ``previous_level`` is given), margin, rate of rise over ``samples``, and ETA."""
    level = (
        flood_level(stage, station)
        if previous_level is None
        else flood_level_hysteresis(stage, station, previous_level)
    )
    margin = _margin(stage, station, level)
    rate = rate_of_rise_m_per_h(samples, window)
    eta = margin[1] / rate if margin is not None and rate is not None and rate > 0 else None
    peak = station.historical_peak_m
    return FloodAssessment(
        station_id=station.station_id,
        stage_m=stage,
        level=level,
        above_level_m=stage - station.thresholds[level - 1] if level else None,
        next_level=margin[0] if margin else None,
        margin_m=margin[1] if margin else None,
        rate_m_per_h=rate,
        hours_to_next_level=eta,
        above_historical_peak=peak is not None and stage > peak,
    )


class FloodStationTable(BaseModel):
    """The flood alarm level table hydrology staff edit: every row cites its decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str | None = Field(None, description="Edition of the table, e.g. a date or the decision it follows")
    stations: list[FloodStation] = Field(min_length=1, description="One row per station")

    @model_validator(mode="after")
    def _unique_ids(self) -> FloodStationTable:
        twice = repeated(s.station_id for s in self.stations)
        if twice:
            raise ValueError(f"station_id used more than once: {', '.join(twice)}")
        return self

    def by_id(self) -> dict[str, FloodStation]:
        return {s.station_id: s for s in self.stations}


def load_flood_stations(path: Path | str) -> FloodStationTable:
    """A YAML table (see ``hub/alerts/sample_rules/flood_alarm_levels.yaml``); ConfigError names line and field."""
    return load_yaml_model(path, FloodStationTable)


CSV_COLUMNS = ("river", "station", "province", "bd1_m", "bd2_m", "bd3_m", "source")
CSV_OPTIONAL_COLUMNS = ("station_id", "node_id", "sensor_id", "historical_peak_m", "hysteresis_m", "zone")


def station_slug(river: str, station: str) -> str:
    """An Identifier from river and station names: ('Hồng', 'Hà Nội (Long Biên)') -> 'hong-ha-noi-long-bien'."""
    # NFKD splits off the diacritics, but đ is a letter of its own and needs mapping by hand.
    text = f"{river}-{station}".replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64]


def flood_stations_from_csv(path: Path | str) -> FloodStationTable:
    """Read the shared CSV format (``river,station,province,bd1_m,bd2_m,bd3_m,source``, optional extra columns
    ``CSV_OPTIONAL_COLUMNS``); station_id defaults to ``station_slug``. Every bad row is reported by number."""
    path = Path(path)
    try:
        # utf-8-sig: spreadsheets often save a byte-order mark before the header.
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            missing = [c for c in CSV_COLUMNS if c not in header]
            unknown = [c for c in header if c not in CSV_COLUMNS + CSV_OPTIONAL_COLUMNS]
            if missing:
                raise ConfigError(path, [f"line 1: missing columns: {', '.join(missing)}"])
            if unknown:
                raise ConfigError(path, [f"line 1: unknown columns: {', '.join(unknown)}"])
            stations, problems = [], []
            for row_no, row in enumerate(reader, start=1):
                where = f"row {row_no} (line {reader.line_num})"
                if None in row:
                    problems.append(f"{where}: more cells than columns")
                    continue
                try:
                    stations.append(FloodStation.model_validate(_row_fields(row)))
                except ValidationError as exc:
                    problems += [f"{where}: {_error_field(e)}{e['msg']}" for e in exc.errors()]
    except OSError as exc:
        raise ConfigError(path, [f"cannot read: {exc.strerror or exc}"]) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(path, [f"not a UTF-8 CSV file: {exc}"]) from None
    if problems:
        raise ConfigError(path, problems)
    try:
        return FloodStationTable(stations=stations)
    except ValidationError as exc:
        raise ConfigError(path, [e["msg"] for e in exc.errors()]) from None


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: v for k, v in row.items() if k != "station" and v not in (None, "")}
    fields["name"] = row["station"]
    fields.setdefault("station_id", station_slug(row["river"] or "", row["station"] or ""))
    return fields


def _error_field(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    return f"{'station' if loc == 'name' else loc}: " if loc else ""
