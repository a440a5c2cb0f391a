"""What every iocgw dashboard shares: the data source, template variables, threshold colours, query and panel
helpers."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm

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


def over_time(
    ref_id: str,
    select: str,
    measurement: str,
    where: str,
    *tags: str,
    every: str = "$__interval",
    fill: str = "none",
    alias: str | None = None,
) -> InfluxQL:
    """``select`` per time bucket (and per tag): the query behind every time series and state timeline."""
    group = ", ".join([f"time({every})", *(f'"{t}"' for t in tags)])
    return query(
        ref_id, f'SELECT {select} FROM "{measurement}" WHERE {where} GROUP BY {group} fill({fill})', alias=alias
    )


def latest_forecast(ref_id: str, where: str) -> InfluxQL:
    """The newest forecast per source, hourly, with its 80 % band (hub/forecast/store.py's ``latest`` series)."""
    return over_time(
        ref_id,
        'last("level_m") AS "dự báo", last("lower_m") AS "cận dưới", last("upper_m") AS "cận trên"',
        "stage_forecast",
        where,
        "source",
        every="1h",
        alias="$col ($tag_source)",
    )


def per_tag(
    ref_id: str,
    select: str,
    measurement: str,
    where: str,
    *tags: str,
    table: bool = False,
    alias: str | None = None,
) -> InfluxQL:
    """``select`` over the whole range, one row per tag value: the query behind tables, stats and maps."""
    group = ", ".join(f'"{t}"' for t in tags)
    return query(
        ref_id, f'SELECT {select} FROM "{measurement}" WHERE {where} GROUP BY {group}', table=table, alias=alias
    )


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
def threshold_steps(base: str, steps: list[tuple[float, str]]) -> db.ThresholdsConfig:
    """Absolute thresholds: ``base`` below the first step, then each step's colour from its value up."""
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=None, color=base)] + [dm.Threshold(value=v, color=c) for v, c in steps])
    )


def risk_thresholds() -> db.ThresholdsConfig:
    """QĐ 18/2021 risk levels 1-5 with the colours the hub's alert engine uses (hub.alerts.rules.risk_level)."""
    return threshold_steps("green", [(float(i + 1), c.hex) for i, c in enumerate(RISK_COLOURS)])


def risk_mappings() -> list[dm.ValueMapping]:
    options = {"0": dm.ValueMappingResult(text="0 (none)", color="green", index=0)}
    for i, c in enumerate(RISK_COLOURS, start=1):
        options[str(i)] = dm.ValueMappingResult(text=f"{i} ({c.name_vi})", color=c.hex, index=i)
    return [dm.ValueMap(options=options)]


# BĐ I-III (QĐ 05/2020): the level reached by a station, 0 below BĐ1. Colours follow the usual flood-bulletin
# convention (yellow, orange, red); the law names the levels, not their colours.
BD_COLOURS = ("#F2CC0C", "#FF7F00", "#E02F44")


def bd_level_thresholds() -> db.ThresholdsConfig:
    return threshold_steps("green", [(float(i + 1), c) for i, c in enumerate(BD_COLOURS)])


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
    return threshold_steps("transparent", [(float(i + 1), c) for i, c in enumerate(FIRE_COLOURS)])


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


def tag_variable(name: str, label: str, measurement: str, key: str, where: str) -> db.QueryVariable:
    """Values of tag ``key`` in ``measurement`` where ``where`` holds: a site variable narrowed to the provinces."""
    return tag_values(name, label, f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "{key}" WHERE {where}')


def commune_variable() -> db.QueryVariable:
    """Administrative units (post-2025 GSO codes) of the chosen provinces, from the feeds' merged view."""
    return tag_variable("unit", "Đơn vị hành chính", "unit_hazard", "admin_code", '"province_code" =~ /^$province$/')


def station_variable() -> db.QueryVariable:
    return tag_variable("station", "Trạm thủy văn", "flood_level", "station_id", '"area" =~ /^$province/')


def reservoir_variable() -> db.QueryVariable:
    return tag_variable("reservoir", "Hồ chứa", "reservoir_state", "reservoir_id", '"area" =~ /^$province/')


def fire_area_variable() -> db.QueryVariable:
    return tag_variable("fire_area", "Vùng rừng", "fire_danger", "area_id", '"area" =~ /^$province/')


def node_variable() -> db.QueryVariable:
    return tag_variable("node", "Nút biên", "node_status", "node_id", '"admin_code" =~ /^$province/')


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


def node_state_mappings() -> list[dm.ValueMapping]:
    """An edge node's ``state`` (node_status): one set of colours wherever the fleet is shown."""
    options = {
        "online": dm.ValueMappingResult(text="online", color="green", index=0),
        "offline": dm.ValueMappingResult(text="offline", color="red", index=1),
    }
    return [dm.ValueMap(options=options)]


def coloured_cells(name: str) -> db.DashboardFieldConfigSourceOverrides:
    """A table column whose cells take the colour of their value (through the panel's thresholds or mappings)."""
    return override(name, custom__cellOptions=COLOUR_CELLS)


def age_column(label: str) -> db.DashboardFieldConfigSourceOverrides:
    """The table's Time column as "5 minutes ago": how fresh a row is matters more than when it was written."""
    return override("Time", unit="dateTimeFromNow", displayName=label)


def dashed_line(name: str, colour: str, **props: object) -> db.DashboardFieldConfigSourceOverrides:
    """A reference level drawn as a dashed line in its own colour, apart from the measured series."""
    return override(
        name,
        color={"mode": "fixed", "fixedColor": colour},
        custom__lineStyle={"fill": "dash", "dash": [10, 10]},
        **props,
    )


# -- panels ------------------------------------------------------------------------------------------------------
# Each takes its place in the 24-column grid as ``height`` rows by ``span`` columns; a caller chains whatever else
# its panel needs onto the builder returned.
def timeseries_panel(
    title: str, *targets: InfluxQL, unit: str | None = None, height: int, span: int
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title)
    if unit is not None:
        panel = panel.unit(unit)
    panel = panel.legend(legend())
    for target in targets:
        panel = panel.with_target(target)
    return panel.height(height).span(span)


def table_panel(title: str, target: InfluxQL, *, height: int, span: int) -> table.Panel:
    return table.Panel().title(title).show_header(True).with_target(target).height(height).span(span)


def level_stat(
    title: str,
    target: InfluxQL,
    thresholds: db.ThresholdsConfig,
    mappings: list[dm.ValueMapping],
    *,
    height: int,
    span: int,
) -> stat.Panel:
    """The current level of each series as a tile in the level's colour."""
    return (
        stat.Panel()
        .title(title)
        .reduce_options(last_value())
        .with_target(target)
        .thresholds(thresholds)
        .mappings(mappings)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .height(height)
        .span(span)
    )


def state_timeline(
    title: str,
    target: InfluxQL,
    mappings: list[dm.ValueMapping],
    *,
    thresholds: db.ThresholdsConfig | None = None,
    show_value: cm.VisibilityMode = cm.VisibilityMode.AUTO,
    height: int,
    span: int,
) -> statetimeline.Panel:
    panel = statetimeline.Panel().title(title).show_value(show_value).with_target(target).mappings(mappings)
    if thresholds is not None:
        panel = panel.thresholds(thresholds)
    return panel.height(height).span(span)


def map_panel(title: str, layers: list[cb.MapLayerOptions], *, height: int, span: int) -> geomap.Panel:
    """OpenStreetMap over Viet Nam as a whole: a province zooms in from there; "fit to data" would jump as points
    arrive."""
    return (
        geomap.Panel()
        .title(title)
        # The SDK types lat, lon and zoom as int; Grafana stores them as floats (Viet Nam is not at whole degrees).
        .view(geomap.MapViewConfig().id("coords").lat(16.0).lon(106.0).zoom(5.5))  # type: ignore[arg-type]
        .basemap(cb.MapLayerOptions().type("osm-standard").name("OpenStreetMap"))
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .layers(_builders(layers))
        .height(height)
        .span(span)
    )


def _builders(layers: list[cb.MapLayerOptions]) -> list[cogbuilder.Builder[cm.MapLayerOptions]]:
    """The same list, typed as the SDK's panel wants it (its list parameter is invariant in the element type)."""
    return list(layers)


def marker_layer(name: str, style: dict[str, object], *, ref_id: str | None = None) -> cb.MapLayerOptions:
    """Markers at the frame's lat / lon fields; with ``ref_id`` the layer reads only that query's frame."""
    layer = (
        cb.MapLayerOptions()
        .type("markers")
        .name(name)
        .location(cb.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.COORDS).latitude("lat").longitude("lon"))
        .tooltip(True)
        .config({"showLegend": True, "style": style})
    )
    if ref_id is not None:
        layer = layer.filter_data({"id": "byRefId", "options": ref_id})
    return layer


def rise_rate_panel(title: str, measurement: str, where: str, *, height: int, span: int) -> timeseries.Panel:
    """How fast the water rises, from the rate_m_per_h the hub stores with flood_level and reservoir_state points."""
    return timeseries_panel(
        title, over_time("A", 'mean("rate_m_per_h") AS "m/h"', measurement, where), unit="m/h", height=height, span=span
    )
