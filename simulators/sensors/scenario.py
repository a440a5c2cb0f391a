"""Scenario files: groups of simulated nodes, expanded into concrete node configs reproducibly from a seed.

Times in a scenario (burst starts, fault and link-loss windows, sampling intervals, the duration) are scenario
seconds; ``time_scale`` scenario seconds pass per wall-clock second, so a 5-day typhoon can play in 10 minutes.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from plumbing.configfile import ConfigError, load_yaml_model
from simulators.sensors.models import model_class
from simulators.sensors.rng import stable_seed, uniform
from wire import Quantity
from wire.messages import Identifier, describe_error
from wire.nodeconfig import ADMIN_CODE_PATTERN, NodeConfig, check_admin_code
from wire.nodeconfig.simulated import (
    FAULT_KINDS,
    ClockSkewFault,
    DropoutFault,
    Fault,
    NoiseFault,
    SpikeFault,
    StuckFault,
    known_model,
    validate_params,
)

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "scenarios"
DEFAULT_SCENARIO = "typhoon_flood"
MAX_INTERVAL_S = 86_400.0  # NodeConfig's limit on a sensor's (wall-clock) sampling interval
_IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

NodeKind = Literal["river_station", "rain_gauge", "reservoir", "environment_station"]
_DEFAULT_ID_PATTERN: dict[str, str] = {
    "river_station": "river-{i:03d}",
    "rain_gauge": "rain-{i:03d}",
    "reservoir": "reservoir-{i:03d}",
    "environment_station": "env-{i:03d}",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Range(_Model):
    """Drawn uniformly per node from the seed."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class AlarmLevels(_Model):
    """A river station's flood alarm levels (BĐ1-3, QĐ 05/2020/QĐ-TTg); kept with the scenario for the hub."""

    bd1_m: float
    bd2_m: float
    bd3_m: float
    source: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> AlarmLevels:
        if not self.bd1_m < self.bd2_m < self.bd3_m:
            raise ValueError("need bd1_m < bd2_m < bd3_m")
        return self


class SiteSpec(_Model):
    """Where a node stands. ``name`` may use ``{i}`` (the node's 1-based index in its group)."""

    name: str | None = None
    admin_code: str | None = Field(None, pattern=ADMIN_CODE_PATTERN)
    lat: float | Range | None = None
    lon: float | Range | None = None
    alarm_levels: AlarmLevels | None = None
    notes: str = ""

    @field_validator("admin_code", mode="before")
    @classmethod
    def _gso_code(cls, code: Any) -> Any:
        return check_admin_code(code)

    @field_validator("name")
    @classmethod
    def _pattern(cls, name: str | None) -> str | None:
        if name is not None:
            _format(name, 1)
        return name

    @field_validator("lat", "lon")
    @classmethod
    def _degrees(cls, v: float | Range | None, info: ValidationInfo) -> float | Range | None:
        limit = 90.0 if info.field_name == "lat" else 180.0
        values = [] if v is None else [v] if isinstance(v, float | int) else [v.min, v.max]
        if any(abs(x) > limit for x in values):
            raise ValueError(f"{info.field_name} must be within ±{limit:g}")
        return v


def _format(pattern: str, i: int) -> str:
    try:
        return pattern.format(i=i)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"pattern {pattern!r} must use only {{i}}, e.g. 'river-{{i:03d}}': {exc}") from None


class _Targeting(_Model):
    """Which nodes (and sensors) a fault or link-loss window hits; nothing set: all of them."""

    nodes: list[int | str] | None = Field(None, description="1-based indices in the group, or node ids")
    fraction: float | None = Field(None, gt=0, le=1, description="A seeded random share of the group's nodes")


class _SensorTargeting(_Targeting):
    sensors: list[str] | None = Field(None, description="Sensor ids; none: every sensor of the node")

    def to_fault(self) -> Fault:
        data = self.model_dump(exclude={"nodes", "fraction", "sensors"})
        return FAULT_KINDS[data["kind"]].model_validate(data)  # type: ignore[return-value]


class TargetedSpike(SpikeFault, _SensorTargeting):
    pass


class TargetedStuck(StuckFault, _SensorTargeting):
    pass


class TargetedDropout(DropoutFault, _SensorTargeting):
    pass


class TargetedNoise(NoiseFault, _SensorTargeting):
    pass


class TargetedClockSkew(ClockSkewFault, _SensorTargeting):
    pass


TargetedFault = Annotated[
    TargetedSpike | TargetedStuck | TargetedDropout | TargetedNoise | TargetedClockSkew,
    Field(discriminator="kind"),
]


class LinkLossWindow(_Targeting):
    """The node loses its broker connection for a while; it keeps sampling into its outbox."""

    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)


class ScenarioSensor(_Model):
    """One sensor of every node in a group."""

    id: Identifier
    model: str
    quantity: Quantity | None = Field(None, description="Default: what the model measures")
    interval_s: float = Field(60.0, gt=0, description="Sampling interval in scenario seconds")
    params: dict[str, Any] = Field(default_factory=dict)
    faults: list[TargetedFault] = Field(default_factory=list)

    @field_validator("model")
    @classmethod
    def _known(cls, model: str) -> str:
        return known_model(model)

    @field_validator("params")
    @classmethod
    def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        if "model" in info.data:
            validate_params(info.data["model"], params)
        return params

    @model_validator(mode="after")
    def _quantity(self) -> ScenarioSensor:
        if self.quantity is None:
            self.quantity = model_class(self.model).QUANTITY
            if self.quantity is None:
                raise ValueError(f"model {self.model!r} measures nothing in particular: set quantity")
        if any(f.sensors is not None for f in self.faults):
            raise ValueError("a sensor's own faults cannot name sensors; put them in the group's faults")
        return self


class NodeGroup(_Model):
    """``count`` nodes of one kind with the same sensors; each gets its own id, site draw and seed."""

    name: Identifier
    kind: NodeKind
    count: int = Field(1, ge=0, le=100_000)
    id_pattern: str | None = Field(None, description="Node id from {i}, e.g. 'river-{i:03d}'; default per kind")
    site: SiteSpec = SiteSpec()
    sites: list[SiteSpec] = Field(default_factory=list, description="Per node (cycled), over ``site``")
    heartbeat_s: float | None = Field(None, gt=0, description="Status interval, wall seconds")
    max_readings_per_message: int | None = Field(None, ge=1, le=1000)
    sensors: list[ScenarioSensor] = Field(min_length=1)
    faults: list[TargetedFault] = Field(default_factory=list)
    link_loss: list[LinkLossWindow] = Field(default_factory=list)

    @field_validator("id_pattern")
    @classmethod
    def _id_pattern(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            for i in (1, 10_000):
                if not _IDENTIFIER.match(_format(pattern, i)):
                    raise ValueError(f"{pattern!r} gives {_format(pattern, i)!r}, not a valid node id")
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> NodeGroup:
        ids = [s.id for s in self.sensors]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"sensor ids repeated: {', '.join(dup)}")
        for f in self.faults:
            unknown = sorted(set(f.sensors or []) - set(ids))
            if unknown:
                raise ValueError(f"fault names unknown sensors: {', '.join(unknown)}")
        return self

    def node_id(self, i: int) -> str:
        return _format(self.id_pattern or _DEFAULT_ID_PATTERN[self.kind], i)

    def site_for(self, i: int) -> SiteSpec:
        """``site`` overlaid with the i-th entry of ``sites`` (cycled)."""
        if not self.sites:
            return self.site
        own = self.sites[(i - 1) % len(self.sites)]
        return self.site.model_copy(update={k: getattr(own, k) for k in own.model_fields_set})


class CameraEventSpec(_Model):
    """A confirmed camera detection scripted in the scenario: ``new`` at ``start_s``, ``update`` every
    ``update_every_s``, ``end`` at ``start_s + duration_s`` (scenario seconds)."""

    node: Identifier = Field(description="Node id of the camera's node; must be one of the scenario's nodes")
    camera: Identifier
    label: Identifier = Field(description="Detector label, e.g. smoke or fire")
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    score: float = Field(ge=0, le=1, description="Score of the first (new) message")
    top_score: float | None = Field(None, ge=0, le=1, description="Score reached by the end; default: score")
    update_every_s: float | None = Field(300.0, gt=0, description="Update messages between new and end; null: none")
    box: tuple[float, float, float, float] = Field((0.40, 0.45, 0.55, 0.60), description="ymin, xmin, ymax, xmax")
    zones: list[Identifier] = Field(default_factory=list)
    event_id: Identifier | None = Field(None, description="Default: <camera>-<label>-<position in the list>")

    @model_validator(mode="after")
    def _scores(self) -> CameraEventSpec:
        if self.top_score is not None and self.top_score < self.score:
            raise ValueError("top_score must not be below score")
        ymin, xmin, ymax, xmax = self.box
        if not (0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1):
            raise ValueError("box must be ymin < ymax and xmin < xmax, all within 0-1")
        return self


class Scenario(_Model):
    """A scenario file (see docs/simulator.md)."""

    name: Identifier
    description: str = ""
    seed: int = 0
    duration_s: float = Field(gt=0, description="Scenario seconds the run covers")
    time_scale: float = Field(1.0, gt=0, le=1e6, description="Scenario seconds per wall-clock second")
    mqtt_prefix: str = Field("iocgw", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    groups: list[NodeGroup] = Field(min_length=1)
    camera_events: list[CameraEventSpec] = Field(
        default_factory=list, description="Scripted camera detections; played by `iocgw sim replay`"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError("group names must be unique")
        seen: dict[str, str] = {}
        for g in self.groups:
            for i in range(1, g.count + 1):
                nid = g.node_id(i)
                if nid in seen:
                    raise ValueError(f"node id {nid!r} made by groups {seen[nid]!r} and {g.name!r}: set id_pattern")
                seen[nid] = g.name
            for s in g.sensors:
                _check_interval(s, self.time_scale)
        return self

    @model_validator(mode="after")
    def _event_nodes(self) -> Scenario:
        nodes = {nid for _, _, nid in expand_nodes(self)}
        for i, ev in enumerate(self.camera_events):
            if ev.node not in nodes:
                raise ValueError(f"camera_events.{i}: node {ev.node!r} is not one of the scenario's nodes")
        ids = [ev.event_id or f"{ev.camera}-{ev.label}-{i + 1}" for i, ev in enumerate(self.camera_events)]
        if len(set(ids)) != len(ids):
            raise ValueError("camera_events: event ids repeat")
        return self

    @property
    def wall_duration_s(self) -> float:
        return self.duration_s / self.time_scale


def _check_interval(sensor: ScenarioSensor, time_scale: float) -> None:
    if sensor.interval_s / time_scale > MAX_INTERVAL_S:
        raise ValueError(f"sensor {sensor.id!r}: interval_s / time_scale exceeds {MAX_INTERVAL_S:g} wall seconds")


# -- finding and loading ----------------------------------------------------------------------------------------
def list_scenarios() -> list[str]:
    """Names of the shipped scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def resolve_scenario(name: str | Path) -> Path:
    """A path as given if it is a file, else a shipped scenario by name (``"typhoon_flood"``)."""
    path = Path(name)
    if path.is_file():
        return path
    if path.parent == Path("."):
        shipped = SCENARIO_DIR / (path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml")
        if shipped.is_file():
            return shipped
    raise FileNotFoundError(f"no scenario {str(name)!r}: not a file, nor one of {', '.join(list_scenarios())}")


def load_scenario(name: str | Path) -> Scenario:
    """Read a scenario by path or shipped name; ConfigError names the file, line and field of each problem."""
    try:
        path = resolve_scenario(name)
    except FileNotFoundError as exc:
        raise ConfigError(name, [str(exc)]) from None
    return load_yaml_model(path, Scenario)


# -- expansion --------------------------------------------------------------------------------------------------
def _apportion(counts: list[int], total: int) -> list[int]:
    """``total`` nodes over the groups: one each while it lasts, the rest in proportion (largest remainder)."""
    live = [i for i, c in enumerate(counts) if c > 0] or list(range(len(counts)))
    out = [0] * len(counts)
    for i in live[:total]:
        out[i] = 1
    rest = total - sum(out)
    weight = sum(counts[i] for i in live) or len(live)
    if rest > 0:
        shares = {i: rest * (counts[i] or 1) / weight for i in live}
        floors = {i: int(s) for i, s in shares.items()}
        left = rest - sum(floors.values())
        for i in sorted(live, key=lambda i: floors[i] - shares[i])[:left]:  # largest remainders first
            floors[i] += 1
        for i, n in floors.items():
            out[i] += n
    return out


def expand_nodes(scenario: Scenario, nodes_override: int | None = None) -> list[tuple[NodeGroup, int, str]]:
    """(group, 1-based index, node id) of every node; ``nodes_override`` sets the total number of nodes."""
    counts = [g.count for g in scenario.groups]
    if nodes_override is not None:
        if nodes_override < 0:
            raise ValueError("nodes_override must not be negative")
        counts = _apportion(counts, nodes_override)
    out = []
    seen: set[str] = set()
    for g, n in zip(scenario.groups, counts, strict=True):
        for i in range(1, n + 1):
            nid = g.node_id(i)
            if nid in seen:
                raise ValueError(f"node id {nid!r} made twice: give group {g.name!r} its own id_pattern")
            seen.add(nid)
            out.append((g, i, nid))
    return out


def _selected(target: _Targeting, i: int, node_id: str, seed: int, salt: str) -> bool:
    if target.nodes is not None and i not in target.nodes and node_id not in target.nodes:
        return False
    return target.fraction is None or uniform(stable_seed(seed, salt, node_id), 0) < target.fraction


def _draw(value: float | Range | None, key: int, slot: int) -> float | None:
    if isinstance(value, Range):
        return round(value.min + (value.max - value.min) * uniform(key, slot), 5)
    return value


def _site(group: NodeGroup, i: int, seed: int, node_id: str) -> dict[str, Any]:
    spec = group.site_for(i)
    key = stable_seed(seed, node_id, "site")
    site: dict[str, Any] = {
        "name": _format(spec.name, i) if spec.name is not None else node_id,
        "admin_code": spec.admin_code,
        "lat": _draw(spec.lat, key, 0),
        "lon": _draw(spec.lon, key, 1),
    }
    return {k: v for k, v in site.items() if v is not None}


def build_node_configs(
    scenario: Scenario,
    *,
    seed: int | None = None,
    broker_host: str = "127.0.0.1",
    broker_port: int = 1883,
    data_dir: Path | str = Path("run/sim"),
    nodes_override: int | None = None,
    prefix: str | None = None,
    time_scale: float | None = None,
    start: datetime | None = None,
) -> list[NodeConfig]:
    """Concrete node configs, the same for the same arguments.

    Each node's outbox lives in ``data_dir/<node_id>/`` (made absolute so the written YAML reads back
    identically). ``start`` anchors scenario t=0 on every node at once; None leaves each driver to start its
    clock when opened. Sampling intervals become wall seconds (scenario interval / time_scale).
    """
    seed = scenario.seed if seed is None else seed
    scale = scenario.time_scale if time_scale is None else time_scale
    root = Path(data_dir).resolve()
    configs = []
    for group, i, node_id in expand_nodes(scenario, nodes_override):
        node_seed = stable_seed(seed, node_id)
        sensors = []
        for s in group.sensors:
            _check_interval(s, scale)
            faults = [f.to_fault() for f in s.faults if _selected(f, i, node_id, seed, f"{group.name}/{s.id}")]
            for k, f in enumerate(group.faults):
                if (f.sensors is None or s.id in f.sensors) and _selected(f, i, node_id, seed, f"{group.name}/{k}"):
                    faults.append(f.to_fault())
            driver = {
                "type": "simulated",
                "model": s.model,
                "params": s.params,
                "seed": node_seed,
                "time_scale": scale,
                "start": start,
                "faults": [f.model_dump() for f in faults],
            }
            sensors.append({"id": s.id, "quantity": s.quantity, "interval_s": s.interval_s / scale, "driver": driver})
        data: dict[str, Any] = {
            "node_id": node_id,
            "site": _site(group, i, seed, node_id),
            "data_dir": root / node_id,
            "mqtt": {"host": broker_host, "port": broker_port, "prefix": prefix or scenario.mqtt_prefix},
            "sensors": sensors,
        }
        if group.heartbeat_s is not None:
            data["heartbeat_s"] = group.heartbeat_s
        if group.max_readings_per_message is not None:
            data["max_readings_per_message"] = group.max_readings_per_message
        try:
            configs.append(NodeConfig.model_validate(data))
        except ValidationError as exc:
            raise ValueError(f"node {node_id}: {describe_error(exc)}") from None
    return configs


def link_loss_windows(
    scenario: Scenario, *, seed: int | None = None, nodes_override: int | None = None
) -> dict[str, list[tuple[float, float]]]:
    """node id -> [(start_s, duration_s), ...] in scenario seconds, for the nodes that lose their link."""
    seed = scenario.seed if seed is None else seed
    out: dict[str, list[tuple[float, float]]] = {}
    for group, i, node_id in expand_nodes(scenario, nodes_override):
        for k, w in enumerate(group.link_loss):
            if _selected(w, i, node_id, seed, f"{group.name}/link/{k}"):
                out.setdefault(node_id, []).append((w.start_s, w.duration_s))
    return out


def write_node_configs(configs: list[NodeConfig], out_dir: Path | str, *, header: str = "") -> list[Path]:
    """One ``<node_id>.yaml`` per config, in the format ``wire.nodeconfig.load_node_config`` reads."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for cfg in configs:
        path = out / f"{cfg.node_id}.yaml"
        text = yaml.safe_dump(
            cfg.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True, width=110
        )
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        path.write_text(comment + text, encoding="utf-8")
        paths.append(path)
    return paths


def alarm_levels(scenario: Scenario, *, nodes_override: int | None = None) -> dict[str, AlarmLevels]:
    """node id -> the flood alarm levels its site declares (river stations), for checks and hub set-up."""
    out = {}
    for group, i, node_id in expand_nodes(scenario, nodes_override):
        levels = group.site_for(i).alarm_levels
        if levels is not None:
            out[node_id] = levels
    return out
