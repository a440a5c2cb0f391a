"""What every iocgw dashboard shares: the data source, template variables, threshold colours and query helpers."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from hub.alerts.rules.risk_level import RISK_COLOURS
from hub.grafana.influxql import DATASOURCE_TYPE, InfluxQL

DATASOURCE_UID = "iocgw-influxdb"
DATASOURCE_NAME = "iocgw InfluxDB"
DATASOURCE = dm.DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
TAGS = ["iocgw"]
# Scenario data and real floods are read over days; the 5-day typhoon demo fits the default range.
DEFAULT_RANGE = ("now-7d", "now")
REFRESH = "30s"


def query(ref_id: str, sql: str, *, table: bool = False, alias: str | None = None) -> InfluxQL:
    """One raw InfluxQL target on the shared data source."""
    q = InfluxQL(ref_id).query(sql).datasource(DATASOURCE)
    if table:
        q = q.table()
    if alias:
        q = q.alias(alias)
    return q


def new_dashboard(uid: str, title: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone("browser")
        .time(*DEFAULT_RANGE)
        .refresh(REFRESH)
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .editable()
    )


# -- threshold colours -------------------------------------------------------------------------------------------
def _steps(base: str, steps: list[tuple[float, str]]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color=base)] + [dm.Threshold(value=v, color=c) for v, c in steps])
    )


def risk_thresholds() -> db.ThresholdsConfig:
    """QĐ 18/2021 risk levels 1-5 with the colours the hub's alert engine uses (hub.alerts.rules.risk_level)."""
    return _steps("green", [(float(i + 1), c.hex) for i, c in enumerate(RISK_COLOURS)])


def risk_mappings() -> list[dm.ValueMapping]:
    options = {"0": dm.ValueMappingResult(text="0 (none)", color="green", index=0)}
    for i, c in enumerate(RISK_COLOURS, start=1):
        options[str(i)] = dm.ValueMappingResult(text=f"{i} ({c.name_vi})", color=c.hex, index=i)
    return [dm.ValueMap(options=options)]


# BĐ I-III (QĐ 05/2020): the level reached by a station, 0 below BĐ1. Colours follow the usual flood-bulletin
# convention (yellow, orange, red); the law names the levels, not their colours.
BD_COLOURS = ("#F2CC0C", "#FF7F00", "#E02F44")


def bd_level_thresholds() -> db.ThresholdsConfig:
    return _steps("green", [(float(i + 1), c) for i, c in enumerate(BD_COLOURS)])


def bd_mappings() -> list[dm.ValueMapping]:
    options = {"0": dm.ValueMappingResult(text="dưới BĐ1", color="green", index=0)}
    for i, c in enumerate(BD_COLOURS, start=1):
        options[str(i)] = dm.ValueMappingResult(text=f"BĐ{i}", color=c, index=i)
    return [dm.ValueMap(options=options)]


# Fire-danger levels I-V (TT 25/2019): the colours of Vietnamese forest-fire forecast boards (green, blue, yellow,
# orange, red); the circular names the levels, boards choose the colours.
FIRE_COLOURS = ("#37872D", "#1F60C4", "#F2CC0C", "#FF7F00", "#C4162A")
FIRE_NAMES = ("I", "II", "III", "IV", "V")


def fire_thresholds() -> db.ThresholdsConfig:
    return _steps("transparent", [(float(i + 1), c) for i, c in enumerate(FIRE_COLOURS)])


def fire_mappings() -> list[dm.ValueMapping]:
    options = {
        str(i): dm.ValueMappingResult(text=f"cấp {name}", color=c, index=i)
        for i, (name, c) in enumerate(zip(FIRE_NAMES, FIRE_COLOURS, strict=True), start=1)
    }
    return [dm.ValueMap(options=options)]


# -- template variables ------------------------------------------------------------------------------------------
def tag_values(name: str, label: str, sql: str, *, all_value: bool = True) -> db.QueryVariable:
    v = (
        db.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(" ".join(sql.split()))
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
    )
    if all_value:
        v = v.include_all(True).multi(True).all_value(".*")
    return v


def province_variable() -> db.QueryVariable:
    """2-digit GSO province codes seen in any measurement: a site's admin code starts with its province's."""
    return tag_values(
        "province", "Tỉnh (GSO)", 'SHOW TAG VALUES WITH KEY IN ("admin_code", "area", "province_code")'
    ).regex(r"/^(\d\d)/")


def commune_variable() -> db.QueryVariable:
    """Administrative units (post-2025 GSO codes) of the chosen provinces, from the feeds' merged view."""
    return tag_values(
        "unit",
        "Đơn vị hành chính",
        'SHOW TAG VALUES FROM "unit_hazard" WITH KEY = "admin_code" WHERE "province_code" =~ /^$province$/',
    )


def station_variable() -> db.QueryVariable:
    return tag_values(
        "station",
        "Trạm thủy văn",
        'SHOW TAG VALUES FROM "flood_level" WITH KEY = "station_id" WHERE "area" =~ /^$province/',
    )


def reservoir_variable() -> db.QueryVariable:
    return tag_values(
        "reservoir",
        "Hồ chứa",
        'SHOW TAG VALUES FROM "reservoir_state" WITH KEY = "reservoir_id" WHERE "area" =~ /^$province/',
    )


def fire_area_variable() -> db.QueryVariable:
    return tag_values(
        "fire_area",
        "Vùng rừng",
        'SHOW TAG VALUES FROM "fire_danger" WITH KEY = "area_id" WHERE "area" =~ /^$province/',
    )


def node_variable() -> db.QueryVariable:
    return tag_values(
        "node",
        "Nút biên",
        'SHOW TAG VALUES FROM "node_status" WITH KEY = "node_id" WHERE "admin_code" =~ /^$province/',
    )


def hub_url_variable() -> db.TextBoxVariable:
    """Where the hub's API answers, for links to camera snapshots; set it once on the dashboard."""
    return db.TextBoxVariable("hub_url").label("Hub URL").default_value("http://localhost:8080")


# -- panel options -----------------------------------------------------------------------------------------------
# The SDK encodes a panel whose options were never touched as ``"options": null``, which it then cannot decode:
# every panel sets at least one option through these.
def legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def last_value(fields: str = "") -> cb.ReduceDataOptions:
    """One value per series: its last non-null one (``fields`` a regex of the fields shown, '' numeric ones)."""
    return cb.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(fields)


def override(name: str, **props: object) -> db.DashboardFieldConfigSourceOverrides:
    """Field overrides by field name; keys use ``__`` for dots (``custom__cellOptions``)."""
    values = [dm.DynamicConfigValue(id_val=k.replace("__", "."), value=v) for k, v in props.items()]
    return (
        db.DashboardFieldConfigSourceOverrides()
        .matcher(dm.MatcherConfig(id_val="byName", options=name))
        .properties(values)
    )


COLOUR_CELLS = {"type": "color-background"}


# Reservoir bands (hub.alerts.rules.dam_safety.ReservoirBand), coloured by how near they are to the check level.
RESERVOIR_BANDS = {
    "below_dead": ("dưới MNC", "purple"),
    "dead_to_pre_flood": ("MNC - MN trước lũ", "green"),
    "pre_flood_to_normal": ("MN trước lũ - MNDBT", "green"),
    "normal_to_design_flood": ("MNDBT - MNLTK", "#FF7F00"),
    "design_to_check_flood": ("MNLTK - MNLKT", "#E02F44"),
    "above_check_flood": ("trên MNLKT", "#A352CC"),
}


def band_mappings() -> list[dm.ValueMapping]:
    options = {
        band: dm.ValueMappingResult(text=text, color=colour, index=i)
        for i, (band, (text, colour)) in enumerate(RESERVOIR_BANDS.items())
    }
    return [dm.ValueMap(options=options)]
