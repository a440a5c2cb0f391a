"""The forecast configuration: which stations and reservoirs get a forecast, from what, and how often.

The single place for this schema: the hub's forecast job and ``iocgw hub validate`` read it through
``load_forecast_config``. Station ids are the flood stations' ``station_id`` (hub/alerts/rules/flood_levels.py);
reservoir ids are the dam-safety reservoirs' ids.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.forecast.base import MAX_HORIZON_H
from plumbing.configfile import load_yaml_model
from wire.messages import Identifier


class Upstream(BaseModel):
    """A gauged station upstream whose levels reach this one after a travel time."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    station_id: Identifier = Field(description="Station id of the upstream gauge (its history must be stored)")
    travel_time_h: float | None = Field(
        None,
        ge=0,
        le=72,
        description="Hours a change at the upstream gauge takes to show here; omitted: found when fitting, as "
        "the lag at which the upstream's changes best correlate with this station's",
    )


class RainGauge(BaseModel):
    """A rain gauge in the station's basin: its readings (measurement ``rainfall``, mm since the previous reading)
    are summed per hour, and the basin's rain is the mean over its gauges."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    node_id: Identifier = Field(description="Node that carries the gauge")
    sensor_id: Identifier = Field(description="The gauge's sensor id on that node")

    @property
    def key(self) -> str:
        """The gauge's series in a history mapping (beside the stations' level series)."""
        return f"rain:{self.node_id}/{self.sensor_id}"


# The confidence (crossing.py) at which a forecast crossing becomes a warning, the hub's and the benchmark's
# alike. The central forecast alone (0.5) warned too often on rises that stopped short of a level. 0.8 was chosen
# on simulated seasons 1-16 with rain forecasts (85.6 % of crossings warned >= 6 h ahead, 9.4 % false; 0.7: 92 %,
# 10.8 %; 0.85: 83 %, 8.2 %), which the benchmark's reported figures (seasons 101-116) were not tuned on.
WARN_CONFIDENCE = 0.8


class StationForecastConfig(BaseModel):
    """One river station's forecast: its own recent levels, and its upstream gauges if it has any."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    station_id: Identifier = Field(description="Flood station id (as in the flood alarm level table)")
    upstream: list[Upstream] = Field(default_factory=list, description="Gauged stations upstream, if any")
    rain: list[RainGauge] = Field(
        default_factory=list,
        description="Rain gauges in the station's basin, if any: the basin rain of the last hours is a predictor, "
        "kept per horizon only where it beat the regression without it on held-out history",
    )
    rain_forecast: Identifier | None = Field(
        None,
        description="Area id of the rain forecasts for the station's basin (feed kind rain_forecast), if any: "
        "the rain forecast over each horizon is a predictor, kept per horizon only where it beat the fit "
        "without it on held-out history",
    )
    method: Literal["auto", "persistence", "regression"] = Field(
        "auto",
        description="auto: per horizon, the regression where it beat persistence on held-out history, else "
        "persistence; regression: the same check, never a learned model; persistence: always the last level",
    )
    history_days: float = Field(30, gt=1, le=730, description="Days of hourly history each refit reads")
    min_history_h: int = Field(
        240, ge=48, description="Fewer usable hours than this (own levels) and the fit refuses, naming the station"
    )
    max_travel_time_h: float = Field(
        48, gt=0, le=72, description="Longest lag tried when an upstream's travel time is found from the data"
    )
    min_skill: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Held-out skill over persistence (1 - MSE / MSE of persistence) a horizon's regression must "
        "exceed to be used; otherwise that horizon falls back to persistence",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StationForecastConfig:
        ids = [u.station_id for u in self.upstream]
        if self.station_id in ids:
            raise ValueError(f"station {self.station_id} lists itself as upstream")
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"upstream station listed more than once: {', '.join(twice)}")
        gauges = [g.key for g in self.rain]
        if len(set(gauges)) < len(gauges):
            raise ValueError("a rain gauge is listed more than once")
        if self.min_history_h > self.history_days * 24:
            raise ValueError(
                f"min_history_h ({self.min_history_h}) is more than history_days ({self.history_days:g}) holds"
            )
        return self


class ReservoirForecastConfig(BaseModel):
    """One reservoir's level forecast by mass balance: inflow minus planned releases, through the storage curve."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    reservoir_id: Identifier = Field(description="Reservoir id (as in the dam-safety configuration)")
    storage_curve: list[tuple[float, float]] = Field(
        min_length=2,
        description="(level_m, volume_m3) points of the level-storage curve (đường đặc tính lòng hồ), both "
        "strictly increasing; levels between points are interpolated linearly",
    )
    inflow_uncertainty: float = Field(
        0.2,
        ge=0,
        lt=0.75,
        description="Relative standard deviation of the inflow forecast, taken as one error of the same sign "
        "over the whole horizon (a forecast inflow is usually wrong by a bias, not by hourly noise)",
    )
    level_node_id: Identifier | None = Field(None, description="Node whose sensor reports the reservoir level")
    level_sensor_id: Identifier | None = Field(None, description="That sensor's id on the node")
    inflow_node_id: Identifier | None = Field(None, description="Node whose sensor reports the inflow (m³/s)")
    inflow_sensor_id: Identifier | None = Field(None, description="That sensor's id on the node")
    outflow_node_id: Identifier | None = Field(None, description="Node whose sensor reports the release (m³/s)")
    outflow_sensor_id: Identifier | None = Field(None, description="That sensor's id on the node")

    @model_validator(mode="after")
    def _consistent(self) -> ReservoirForecastConfig:
        curve = self.storage_curve
        for (l0, v0), (l1, v1) in pairwise(curve):
            if not l1 > l0:
                raise ValueError(f"storage_curve levels must increase strictly: {l1:g} m after {l0:g} m")
            if not v1 > v0:
                raise ValueError(f"storage_curve volumes must increase strictly: {v1:g} m³ after {v0:g} m³")
        if curve[0][1] < 0:
            raise ValueError("storage_curve volumes cannot be negative")
        for what in ("level", "inflow", "outflow"):
            node, sensor = getattr(self, f"{what}_node_id"), getattr(self, f"{what}_sensor_id")
            if (node is None) != (sensor is None):
                raise ValueError(f"give {what}_node_id and {what}_sensor_id together, or neither")
        return self


class ForecastConfig(BaseModel):
    """Every forecast the hub makes, and its schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    stations: list[StationForecastConfig] = Field(default_factory=list, description="River stations to forecast")
    reservoirs: list[ReservoirForecastConfig] = Field(default_factory=list, description="Reservoirs to forecast")
    refit_every_h: float = Field(24, gt=0, le=24 * 30, description="Hours between refits of each station's model")
    issue_every_h: float = Field(1, gt=0, le=24, description="Hours between forecasts")
    horizon_h: int = Field(MAX_HORIZON_H, ge=1, le=MAX_HORIZON_H, description="Hours ahead each forecast reaches")
    warn_confidence: float = Field(
        WARN_CONFIDENCE,
        gt=0,
        le=1,
        description="A forecast crossing of an alarm level warns (flood_forecast, reservoir_forecast) only at this "
        "confidence or more; below it the crossing is listed as possible and warns of nothing",
    )

    @model_validator(mode="after")
    def _unique_ids(self) -> ForecastConfig:
        for what, ids in (
            ("station_id", [s.station_id for s in self.stations]),
            ("reservoir_id", [r.reservoir_id for r in self.reservoirs]),
        ):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise ValueError(f"{what} used more than once: {', '.join(twice)}")
        return self


def load_forecast_config(path: Path | str) -> ForecastConfig:
    """A YAML file (see ``hub/forecast/sample_forecast.yaml``); ConfigError names the file, line and field."""
    return load_yaml_model(path, ForecastConfig)
