"""Socio-economic indicators and public services per administrative unit, beside each unit's hazard level.

Reads the measurements the feeds job writes (docs/contract.md: admin_indicator, public_service, citizen_feedback,
unit_hazard); every admin code is the post-2025 GSO code.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, geomap, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm

from hub.grafana.common import (
    COLOUR_CELLS,
    commune_variable,
    last_value,
    legend,
    new_dashboard,
    override,
    province_variable,
    query,
    risk_mappings,
    risk_thresholds,
    tag_values,
)

UID = "iocgw-admin-units"
TITLE = "iocgw · Kinh tế - xã hội và dịch vụ công (administrative units)"
UNITS = '"province_code" =~ /^$province$/ AND "admin_code" =~ /^$unit$/ AND $timeFilter'
# Indicators are monthly to yearly: a week shows nothing.
TIME_RANGE = ("now-2y", "now")


def indicator_variable() -> db.QueryVariable:
    return tag_values(
        "indicator",
        "Chỉ tiêu",
        'SHOW TAG VALUES FROM "admin_indicator" WITH KEY = "indicator" WHERE "province_code" =~ /^$province$/',
    )


def hazard_table() -> table.Panel:
    """The merged view: each unit's current hazard level next to its population and services."""
    return (
        table.Panel()
        .title("Đơn vị hành chính: cấp nguy cơ hiện tại, dân số, trường học, trạm y tế")
        .show_header(True)
        .with_target(
            query(
                "A",
                'SELECT last("hazard_level") AS "hazard_level", "hazard", "name", "population", "households", '
                f'"schools", "health_stations" FROM "unit_hazard" WHERE {UNITS} GROUP BY "admin_code"',
                table=True,
            )
        )
        .thresholds(risk_thresholds())
        .mappings(risk_mappings())
        .overrides([override("hazard_level", custom__cellOptions=COLOUR_CELLS), override("Time", custom__hidden=True)])
        .height(10)
        .span(14)
    )


def hazard_map() -> geomap.Panel:
    return (
        geomap.Panel()
        .title("Bản đồ cấp nguy cơ theo đơn vị")
        .view(geomap.MapViewConfig().id("coords").lat(16.0).lon(106.0).zoom(5.5))
        .basemap(cb.MapLayerOptions().type("osm-standard").name("OpenStreetMap"))
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .layers(
            [
                cb.MapLayerOptions()
                .type("markers")
                .name("Đơn vị hành chính")
                .location(
                    cb.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.COORDS).latitude("lat").longitude("lon")
                )
                .tooltip(True)
                .config(
                    {
                        "showLegend": True,
                        "style": {
                            "color": {"field": "hazard_level", "fixed": "dark-green"},
                            "size": {"field": "population", "fixed": 8, "min": 5, "max": 20},
                            "opacity": 0.8,
                        },
                    }
                )
            ]
        )
        .with_target(
            query(
                "A",
                'SELECT last("hazard_level") AS "hazard_level", "lat", "lon", "name", "population" FROM "unit_hazard" '
                f'WHERE {UNITS} GROUP BY "admin_code"',
                table=True,
            )
        )
        .thresholds(risk_thresholds())
        .mappings(risk_mappings())
        .height(10)
        .span(10)
    )


def indicators() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Chỉ tiêu kinh tế - xã hội theo kỳ")
        .legend(legend())
        .show_points(cm.VisibilityMode.ALWAYS)
        .with_target(
            query(
                "A",
                'SELECT last("value") FROM "admin_indicator" WHERE "indicator" =~ /^$indicator$/ AND '
                f'{UNITS} GROUP BY time(1d), "admin_code", "indicator" fill(none)',
                alias="$tag_admin_code $tag_indicator",
            )
        )
        .height(9)
        .span(12)
    )


def anomalies() -> table.Panel:
    return (
        table.Panel()
        .title("Chỉ tiêu bất thường (dưới kế hoạch, vượt dự toán ...)")
        .show_header(True)
        .with_target(
            query(
                "A",
                'SELECT "value", "plan", "change_pct", "anomaly_reason", "unit" FROM "admin_indicator" '
                f'WHERE "anomaly" = 1 AND {UNITS} GROUP BY "admin_code", "indicator", "period_type" '
                "ORDER BY time DESC LIMIT 50",
                table=True,
            )
        )
        .height(9)
        .span(12)
    )


def on_time_rate() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Hồ sơ một cửa: tỷ lệ đúng hạn, trực tuyến, hài lòng (QĐ 766)")
        .unit("percent")
        .min(0)
        .max(100)
        .legend(legend())
        .show_points(cm.VisibilityMode.ALWAYS)
        .with_target(
            query(
                "A",
                'SELECT last("on_time_rate_pct") AS "đúng hạn", last("online_rate_pct") AS "trực tuyến", '
                f'last("satisfaction_pct") AS "hài lòng" FROM "public_service" WHERE {UNITS} '
                'GROUP BY time(1d), "admin_code" fill(none)',
                alias="$tag_admin_code $col",
            )
        )
        .height(9)
        .span(12)
    )


def on_time_thresholds() -> db.ThresholdsConfig:
    # Red below 90 %, amber below 95 %: a reading aid, not a legal band (QĐ 766 scores the rate, it sets no bar).
    steps = [
        dm.Threshold(value=None, color="red"),
        dm.Threshold(value=90, color="orange"),
        dm.Threshold(value=95, color="green"),
    ]
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps)


def on_time_now() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title("Tỷ lệ đúng hạn kỳ gần nhất")
        .reduce_options(last_value())
        .unit("percent")
        .min(0)
        .max(100)
        .with_target(
            query(
                "A",
                f'SELECT last("on_time_rate_pct") FROM "public_service" WHERE {UNITS} GROUP BY "admin_code"',
                alias="$tag_admin_code",
            )
        )
        .thresholds(on_time_thresholds())
        .height(9)
        .span(12)
    )


def feedback() -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title("Phản ánh kiến nghị theo lĩnh vực và trạng thái")
        .reduce_options(last_value())
        .with_target(
            query(
                "A",
                'SELECT sum("count") FROM "citizen_feedback" WHERE "province_code" =~ /^$province$/ AND '
                '"admin_code" =~ /^$unit$/ AND $timeFilter GROUP BY "category", "status"',
                alias="$tag_category · $tag_status",
            )
        )
        .height(9)
        .span(12)
    )


def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Socio-economic and public-service figures per administrative unit, with its hazard")
        .time(*TIME_RANGE)
        .with_variable(province_variable())
        .with_variable(commune_variable())
        .with_variable(indicator_variable())
        .with_panel(hazard_table())
        .with_panel(hazard_map())
        .with_panel(indicators())
        .with_panel(anomalies())
        .with_panel(on_time_rate())
        .with_panel(on_time_now())
        .with_panel(feedback())
    )
