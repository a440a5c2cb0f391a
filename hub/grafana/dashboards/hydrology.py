"""Hydrology station: water level against BĐ1-BĐ3, rate of rise, level reached; rainfall and its accumulations."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm

from hub.grafana.common import (
    BD_COLOURS,
    COLOUR_CELLS,
    bd_level_thresholds,
    bd_mappings,
    last_value,
    legend,
    new_dashboard,
    override,
    province_variable,
    query,
    station_variable,
)

UID = "iocgw-hydrology"
TITLE = "iocgw · Trạm thủy văn (hydrology stations)"
STATION = '"station_id" =~ /^$station$/ AND $timeFilter'
AREA = '"area" =~ /^$province/ AND $timeFilter'


def _bd_line(n: int) -> db.DashboardFieldConfigSourceOverrides:
    """BĐn as a dashed line in its colour, from the BĐ values stored with each flood_level point."""
    return override(
        f"BĐ{n}",
        color={"mode": "fixed", "fixedColor": BD_COLOURS[n - 1]},
        custom__lineStyle={"fill": "dash", "dash": [10, 10]},
        custom__fillOpacity=0,
    )


def station_table() -> table.Panel:
    return (
        table.Panel()
        .title("Các trạm: mực nước hiện tại và cấp báo động")
        .show_header(True)
        .with_target(
            query(
                "A",
                'SELECT last("stage_m") AS "stage_m", "level", "margin_m", "rate_m_per_h" FROM "flood_level" '
                f'WHERE {AREA} GROUP BY "station_id"',
                table=True,
            )
        )
        .mappings(bd_mappings())
        .thresholds(bd_level_thresholds())
        .overrides(
            [
                override("level", custom__cellOptions=COLOUR_CELLS),
                override("Time", unit="dateTimeFromNow", displayName="cập nhật"),
            ]
        )
        .height(7)
        .span(24)
    )


def water_level() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Mực nước $station so với BĐ1 / BĐ2 / BĐ3")
        .unit("lengthm")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("stage_m") AS "mực nước" FROM "flood_level" WHERE {STATION} '
                "GROUP BY time($__interval) fill(none)",
            )
        )
        .with_target(
            query(
                "B",
                'SELECT last("bd1_m") AS "BĐ1", last("bd2_m") AS "BĐ2", last("bd3_m") AS "BĐ3" FROM "flood_level" '
                f"WHERE {STATION} GROUP BY time($__interval) fill(previous)",
            )
        )
        .overrides([_bd_line(1), _bd_line(2), _bd_line(3)])
        .height(10)
        .span(16)
    )


def current_level() -> stat.Panel:
    return (
        stat.Panel()
        .title("Cấp báo động hiện tại")
        .reduce_options(last_value())
        .with_target(query("A", f'SELECT last("level") AS "cấp" FROM "flood_level" WHERE {STATION}'))
        .mappings(bd_mappings())
        .thresholds(bd_level_thresholds())
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .height(5)
        .span(8)
    )


def level_reached() -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title("Cấp báo động theo thời gian")
        .show_value(cm.VisibilityMode.AUTO)
        .with_target(
            query(
                "A",
                f'SELECT max("level") AS "BĐ" FROM "flood_level" WHERE {STATION} '
                "GROUP BY time($__interval) fill(previous)",
            )
        )
        .mappings(bd_mappings())
        .thresholds(bd_level_thresholds())
        .height(5)
        .span(8)
    )


def rate_of_rise() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Tốc độ nước lên $station (m/h)")
        .unit("m/h")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("rate_m_per_h") AS "m/h" FROM "flood_level" WHERE {STATION} '
                "GROUP BY time($__interval) fill(none)",
            )
        )
        .height(8)
        .span(24)
    )


def rainfall_bars() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Lượng mưa theo giờ (mm)")
        .unit("lengthmm")
        .legend(legend())
        .draw_style(cm.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .with_target(
            query(
                "A",
                'SELECT sum("value") FROM "rainfall" WHERE "admin_code" =~ /^$province/ AND $timeFilter '
                'GROUP BY time(1h), "node_id" fill(0)',
                alias="$tag_node_id",
            )
        )
        .height(8)
        .span(12)
    )


def accumulations() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Mưa tích lũy 12 h / 24 h (mm)")
        .unit("lengthmm")
        .legend(legend())
        .with_target(
            query(
                "A",
                'SELECT last("acc_12h_mm") AS "12 h", last("acc_24h_mm") AS "24 h" FROM "rain_accumulation" '
                f'WHERE {AREA} GROUP BY time($__interval), "gauge_id" fill(previous)',
                alias="$tag_gauge_id $col",
            )
        )
        .height(8)
        .span(12)
    )


def build() -> db.Dashboard:
    return (
        new_dashboard(
            UID, TITLE, "Water level of each hydrological station against its flood alarm levels (QĐ 05/2020)"
        )
        .with_variable(province_variable())
        .with_variable(station_variable())
        .with_panel(station_table())
        .with_row(db.Row("Trạm $station").repeat("station"))
        .with_panel(water_level())
        .with_panel(current_level())
        .with_panel(level_reached())
        .with_panel(rate_of_rise())
        .with_row(db.Row("Mưa (rainfall)"))
        .with_panel(rainfall_bars())
        .with_panel(accumulations())
    )
