"""Dam safety: reservoir level against its named levels, band over time, inflow and outflow, seepage."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, timeseries

from hub.grafana.common import (
    band_mappings,
    dashed_line,
    latest_forecast,
    new_dashboard,
    over_time,
    province_variable,
    reservoir_variable,
    rise_rate_panel,
    state_timeline,
    tag_variable,
    timeseries_panel,
)
from hub.grafana.dashboards.registry import register_dashboard

UID = "iocgw-dam-safety"
TITLE = "iocgw · An toàn đập (dam safety)"
RESERVOIR = '"reservoir_id" =~ /^$reservoir$/ AND $timeFilter'
DAM_NODE = '"node_id" =~ /^$dam_node$/ AND $timeFilter'
# The reservoir's latest level forecast (hub/forecast/store.py), a day ahead of now.
FORECAST = '"series" = \'latest\' AND "station_id" =~ /^$reservoir$/ AND $timeFilter'
FORECAST_RANGE = ("now-7d", "now+1d")
# Named levels (NĐ 114/2018), as the hub stores them with each reservoir_state point: field, label, colour.
NAMED_LEVELS = (
    ("dead_level_m", "MNC (mực nước chết)", "purple"),
    ("pre_flood_level_m", "MN trước lũ", "blue"),
    ("normal_level_m", "MNDBT", "green"),
    ("design_flood_level_m", "MNLTK (thiết kế)", "#FF7F00"),
    ("check_flood_level_m", "MNLKT (kiểm tra)", "#E02F44"),
)


def dam_node_variable() -> db.QueryVariable:
    """Nodes reporting reservoir instruments (inflow, outflow, seepage are readings of a node, not of a reservoir)."""
    return tag_variable("dam_node", "Nút đo của hồ", "reservoir_level", "node_id", '"admin_code" =~ /^$province/')


def level_vs_named() -> timeseries.Panel:
    named = ", ".join(f'last("{f}") AS "{label}"' for f, label, _ in NAMED_LEVELS)
    return timeseries_panel(
        "Mực nước hồ $reservoir so với các mực nước đặc trưng",
        over_time("A", 'mean("level_m") AS "mực nước hồ"', "reservoir_state", RESERVOIR),
        over_time("B", named, "reservoir_state", RESERVOIR, fill="previous"),
        unit="lengthm",
        height=10,
        span=16,
    ).overrides([dashed_line(label, colour) for _, label, colour in NAMED_LEVELS])


def forecast_vs_named() -> timeseries.Panel:
    """The newest level forecast (mass balance or the operator's / agency's) against the named levels."""
    named = ", ".join(f'last("{f}") AS "{label}"' for f, label, _ in NAMED_LEVELS)
    return timeseries_panel(
        "Dự báo mực nước hồ $reservoir (bản tin mới nhất) so với các mực nước đặc trưng",
        over_time("A", 'mean("level_m") AS "mực nước hồ đo"', "reservoir_state", RESERVOIR),
        latest_forecast("B", FORECAST),
        over_time("C", named, "reservoir_state", RESERVOIR, fill="previous"),
        unit="lengthm",
        height=10,
        span=24,
    ).overrides([dashed_line(label, colour) for _, label, colour in NAMED_LEVELS])


def band_timeline() -> statetimeline.Panel:
    return state_timeline(
        "Vùng mực nước",
        over_time("A", 'last("band") AS "vùng"', "reservoir_state", RESERVOIR, fill="previous"),
        band_mappings(),
        height=5,
        span=8,
    )


def rise_rate() -> timeseries.Panel:
    return rise_rate_panel("Tốc độ mực nước lên (m/h)", "reservoir_state", RESERVOIR, height=5, span=8)


def flows() -> timeseries.Panel:
    return timeseries_panel(
        "Lưu lượng đến và xả (m³/s)",
        over_time("A", 'mean("value") AS "lưu lượng đến"', "inflow", DAM_NODE, "node_id", alias="$tag_node_id đến"),
        over_time("B", 'mean("value") AS "lưu lượng xả"', "outflow", DAM_NODE, "node_id", alias="$tag_node_id xả"),
        unit="m3/s",  # Grafana has no m³/s unit id; the text suffix is shown as is
        height=8,
        span=12,
    )


def seepage() -> timeseries.Panel:
    return timeseries_panel(
        "Thấm qua đập (l/s)",
        over_time(
            "A", 'mean("value")', "seepage", DAM_NODE, "node_id", "sensor_id", alias="$tag_node_id/$tag_sensor_id"
        ),
        unit="l/s",
        height=8,
        span=12,
    )


@register_dashboard(UID)
def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Reservoir level against its named levels (NĐ 114/2018), flows and seepage")
        .time(*FORECAST_RANGE)
        .with_variable(province_variable())
        .with_variable(reservoir_variable())
        .with_variable(dam_node_variable())
        .with_panel(level_vs_named())
        .with_panel(band_timeline())
        .with_panel(rise_rate())
        .with_panel(flows())
        .with_panel(seepage())
        .with_panel(forecast_vs_named())
    )
