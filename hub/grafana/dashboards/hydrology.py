"""Hydrology station: water level against BĐ1-BĐ3, rate of rise, level reached; rainfall and its accumulations."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm

from hub.grafana.common import (
    BD_COLOURS,
    age_column,
    bd_level_thresholds,
    bd_mappings,
    coloured_cells,
    dashed_line,
    latest_forecast,
    level_stat,
    new_dashboard,
    over_time,
    override,
    per_tag,
    province_variable,
    query,
    rise_rate_panel,
    state_timeline,
    station_variable,
    table_panel,
    timeseries_panel,
)
from hub.grafana.dashboards.registry import register_dashboard
from hub.grafana.influxql import InfluxQL

UID = "iocgw-hydrology"
TITLE = "iocgw · Trạm thủy văn (hydrology stations)"
STATION = '"station_id" =~ /^$station$/ AND $timeFilter'
AREA = '"area" =~ /^$province/ AND $timeFilter'
# The hub's forecasts and the agencies' (hub/forecast/store.py): the ``latest`` series is the newest issue from its
# issue time on, so drawing it needs no query trickery; the range reaches a day ahead to show it.
FORECAST = '"series" = \'latest\' AND "station_id" =~ /^$station$/ AND $timeFilter'
FORECAST_RANGE = ("now-7d", "now+1d")


def _bd_line(n: int) -> db.DashboardFieldConfigSourceOverrides:
    """BĐn as a dashed line in its colour, from the BĐ values stored with each flood_level point."""
    return dashed_line(f"BĐ{n}", BD_COLOURS[n - 1], custom__fillOpacity=0)


def station_table() -> table.Panel:
    return (
        table_panel(
            "Các trạm: mực nước hiện tại và cấp báo động",
            per_tag(
                "A",
                'last("stage_m") AS "stage_m", "level", "margin_m", "rate_m_per_h"',
                "flood_level",
                AREA,
                "station_id",
                table=True,
            ),
            height=7,
            span=24,
        )
        .mappings(bd_mappings())
        .thresholds(bd_level_thresholds())
        .overrides([coloured_cells("level"), age_column("cập nhật")])
    )


def _bd_levels(ref_id: str) -> InfluxQL:
    """BĐ1-BĐ3 as stored with each flood_level point (overrides included), carried forward between points."""
    return over_time(
        ref_id,
        'last("bd1_m") AS "BĐ1", last("bd2_m") AS "BĐ2", last("bd3_m") AS "BĐ3"',
        "flood_level",
        STATION,
        fill="previous",
    )


def water_level() -> timeseries.Panel:
    return timeseries_panel(
        "Mực nước $station so với BĐ1 / BĐ2 / BĐ3",
        over_time("A", 'mean("stage_m") AS "mực nước"', "flood_level", STATION),
        _bd_levels("B"),
        unit="lengthm",
        height=10,
        span=16,
    ).overrides([_bd_line(1), _bd_line(2), _bd_line(3)])


def forecast_vs_levels() -> timeseries.Panel:
    """The latest forecast (the hub's and the agency's, one line each, with the 80 % band) after the measured
    stage, against BĐ1-BĐ3: where the forecast line meets a BĐ line is where the forecast warning expects it."""
    return timeseries_panel(
        "Dự báo mực nước $station (bản tin mới nhất) so với BĐ1 / BĐ2 / BĐ3",
        over_time("A", 'mean("stage_m") AS "mực nước đo"', "flood_level", STATION),
        latest_forecast("B", FORECAST),
        _bd_levels("C"),
        unit="lengthm",
        height=10,
        span=16,
    ).overrides([_bd_line(1), _bd_line(2), _bd_line(3)])


def forecast_peaks() -> table.Panel:
    """Per station and source: the highest level the newest forecast expects in the hours ahead, and its issue
    time (epoch ms, shown as a date)."""
    return table_panel(
        "Đỉnh dự báo trong thời hạn dự báo",
        per_tag(
            "A",
            'max("level_m") AS "đỉnh dự báo", last("issued") AS "phát hành", last("method") AS "phương pháp"',
            "stage_forecast",
            '"series" = \'latest\' AND "kind" = \'river\' AND "station_id" =~ /^$station$/ AND time >= now()',
            "station_id",
            "source",
            table=True,
        ),
        height=10,
        span=8,
    ).overrides([override("phát hành", unit="dateTimeAsIso")])


def current_level() -> stat.Panel:
    return level_stat(
        "Cấp báo động hiện tại",
        query("A", f'SELECT last("level") AS "cấp" FROM "flood_level" WHERE {STATION}'),
        bd_level_thresholds(),
        bd_mappings(),
        height=5,
        span=8,
    )


def level_reached() -> statetimeline.Panel:
    return state_timeline(
        "Cấp báo động theo thời gian",
        over_time("A", 'max("level") AS "BĐ"', "flood_level", STATION, fill="previous"),
        bd_mappings(),
        thresholds=bd_level_thresholds(),
        height=5,
        span=8,
    )


def rate_of_rise() -> timeseries.Panel:
    return rise_rate_panel("Tốc độ nước lên $station (m/h)", "flood_level", STATION, height=8, span=24)


def rainfall_bars() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Lượng mưa theo giờ (mm)",
            over_time(
                "A",
                'sum("value")',
                "rainfall",
                '"admin_code" =~ /^$province/ AND $timeFilter',
                "node_id",
                every="1h",
                fill="0",
                alias="$tag_node_id",
            ),
            unit="lengthmm",
            height=8,
            span=12,
        )
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
    )


def accumulations() -> timeseries.Panel:
    return timeseries_panel(
        "Mưa tích lũy 12 h / 24 h (mm)",
        over_time(
            "A",
            'last("acc_12h_mm") AS "12 h", last("acc_24h_mm") AS "24 h"',
            "rain_accumulation",
            AREA,
            "gauge_id",
            fill="previous",
            alias="$tag_gauge_id $col",
        ),
        unit="lengthmm",
        height=8,
        span=12,
    )


@register_dashboard(UID)
def build() -> db.Dashboard:
    return (
        new_dashboard(
            UID, TITLE, "Water level of each hydrological station against its flood alarm levels (QĐ 05/2020)"
        )
        .time(*FORECAST_RANGE)
        .with_variable(province_variable())
        .with_variable(station_variable())
        .with_panel(station_table())
        .with_row(db.Row("Trạm $station").repeat("station"))
        .with_panel(water_level())
        .with_panel(current_level())
        .with_panel(level_reached())
        .with_panel(rate_of_rise())
        .with_panel(forecast_vs_levels())
        .with_panel(forecast_peaks())
        .with_row(db.Row("Mưa (rainfall)"))
        .with_panel(rainfall_bars())
        .with_panel(accumulations())
    )
