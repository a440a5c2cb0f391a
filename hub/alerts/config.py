"""The alert engine's configuration: which rule tables to load and which sensors feed which rule."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.alerts.rules.camera import DEFAULT_CAMERA_TABLE, CameraSeverityTable, load_camera_table
from hub.alerts.rules.dam_safety import ReservoirTable, load_reservoirs
from hub.alerts.rules.flood_levels import FloodStationTable, flood_stations_from_csv, load_flood_stations
from hub.alerts.rules.heavy_rain import RainBands, load_rain_bands
from hub.alerts.rules.nesterov import NesterovConfig, load_nesterov_config
from hub.alerts.rules.risk_level import RiskTables, load_risk_tables
from hub.forecast.config import ForecastConfig, load_forecast_config
from hub.quality.config import QualityConfig, load_quality_config
from hub.secret import Secret
from plumbing.configfile import load_yaml_model
from wire.messages import Identifier


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SensorRef(_Section):
    node_id: Identifier
    sensor_id: Identifier


class RainGauge(_Section):
    gauge_id: Identifier = Field(description="Id of the gauge in alerts")
    node_id: Identifier
    sensor_id: Identifier = Field(description="A rainfall sensor (mm since its previous reading)")
    area: str | None = Field(None, description="GSO code of the area the gauge stands for; default: the node's")


class FireArea(_Section):
    area_id: Identifier = Field(description="Id of the forest area in alerts")
    area: str | None = Field(None, description="GSO code of the area; camera alerts there use its fire danger")
    nesterov: str = Field(description="Name of a province in `nesterov_files` whose settings apply")
    temperature: SensorRef
    humidity: SensorRef
    rain: SensorRef | None = Field(None, description="Daily rain resets the index; without it the index never resets")


class FreshnessSettings(_Section):
    enabled: bool = True
    grace_factor: float = Field(2.5, ge=1, description="A sensor is stale after this many intervals of silence")
    default_interval_s: float = Field(900.0, gt=0, description="For sensors whose interval the registry lacks")
    check_every_s: float = Field(10.0, gt=0)


class ClusterSettings(_Section):
    """Cluster mode (docs/scaling.md, design (iii) of docs/scaling-alerts-design.md): several hubs on one shared
    subscription and one PostgreSQL. Every hub ingests; only the leader (hub/alerts/leader.py) runs the alert
    engine, on alarms, rule state and the notification queue kept in PostgreSQL."""

    dsn: Secret = Field(description="libpq connection string or URI of the shared PostgreSQL (env or file)")
    hub_id: str | None = Field(None, description="This hub's name in the leadership row; default: mqtt.client_id")
    source_client_id: str | None = Field(
        None,
        description="MQTT client id of the leader's own feed, the same on every hub of the cluster so the next "
        "leader takes over the session; default: `<mqtt.prefix>-alerts`",
    )


class AlertsConfig(_Section):
    """Paths are relative to the hub config file; every table is validated at load and on reload."""

    flood_stations: Path | None = Field(None, description="Flood alarm levels: YAML table or the CSV format")
    rain_bands: Path | None = Field(None, description="Heavy-rain bands (QĐ 18/2021 Điều 44)")
    rain_gauges: list[RainGauge] = Field(default_factory=list)
    reservoirs: Path | None = Field(None, description="Reservoirs with named levels and instruments")
    nesterov_files: list[Path] = Field(default_factory=list, description="Per-province fire-danger settings")
    fire_areas: list[FireArea] = Field(default_factory=list)
    risk_tables: Path | None = Field(None, description="Hazard to disaster-risk-level tables (QĐ 18/2021)")
    camera_table: Path | None = Field(None, description="Camera alert severity by fire-danger level")
    freshness: FreshnessSettings = FreshnessSettings()
    tick_s: float = Field(5.0, gt=0, description="How often time-driven rules (freshness, day change) run")
    quality: Path | None = Field(
        None,
        description="Quality-control file (hub/quality/sample_quality.yaml); its `completeness` section sets the "
        "data_quality alarm. Unset: no data_quality alarm",
    )
    forecast: Path | None = Field(
        None, description="Forecast job settings (hub/forecast/config.py); set: forecasts and forecast warnings run"
    )
    forecast_official_max_age_h: float = Field(
        12.0, gt=0, le=120, description="An imported official forecast is preferred to the hub's own up to this age"
    )
    cluster: ClusterSettings | None = Field(
        None, description="Unset: one hub, SQLite (the default). Set: cluster mode, the engine runs on the leader only"
    )

    @model_validator(mode="after")
    def _unique(self) -> AlertsConfig:
        for what, ids in (
            ("gauge_id", [g.gauge_id for g in self.rain_gauges]),
            ("area_id", [a.area_id for a in self.fire_areas]),
        ):
            if len(ids) != len(set(ids)):
                raise ValueError(f"{what} used more than once")
        return self


class RuleTables(BaseModel):
    """Everything the engine evaluates against, loaded from the files an AlertsConfig names."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    flood: FloodStationTable | None = None
    rain: RainBands = RainBands()
    reservoirs: ReservoirTable | None = None
    nesterov: dict[str, NesterovConfig] = Field(default_factory=dict)
    risk: RiskTables = RiskTables()
    camera: CameraSeverityTable = DEFAULT_CAMERA_TABLE
    quality: QualityConfig | None = None
    forecast: ForecastConfig | None = None  # the forecast file: the warning rule's confidence comes from it


def load_rule_tables(config: AlertsConfig, base: Path | None = None) -> RuleTables:
    """Load and validate every table; raises ConfigError (file, line, field) so a bad edit never half-applies."""

    def at(p: Path) -> Path:
        return p if p.is_absolute() or base is None else base / p

    flood = None
    if config.flood_stations is not None:
        path = at(config.flood_stations)
        flood = flood_stations_from_csv(path) if path.suffix.lower() == ".csv" else load_flood_stations(path)
    nesterov = {}
    for p in config.nesterov_files:
        n = load_nesterov_config(at(p))
        nesterov[n.province] = n
    for area in config.fire_areas:
        if area.nesterov not in nesterov:
            raise ValueError(f"fire area {area.area_id}: no nesterov settings for province {area.nesterov!r}")
    return RuleTables(
        flood=flood,
        rain=load_rain_bands(at(config.rain_bands)) if config.rain_bands else RainBands(),
        reservoirs=load_reservoirs(at(config.reservoirs)) if config.reservoirs else None,
        nesterov=nesterov,
        risk=load_risk_tables(at(config.risk_tables)) if config.risk_tables else RiskTables(),
        camera=load_camera_table(at(config.camera_table)) if config.camera_table else DEFAULT_CAMERA_TABLE,
        quality=load_quality_config(at(config.quality)) if config.quality else None,
        forecast=load_forecast_config(at(config.forecast)) if config.forecast else None,
    )


def load_alerts_config(path: Path | str) -> AlertsConfig:
    return load_yaml_model(path, AlertsConfig)
