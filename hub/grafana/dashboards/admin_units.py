"""Socio-economic indicators and public services per administrative unit, beside each unit's hazard level.

Reads the measurements the feeds job writes (docs/contract.md: admin_indicator, public_service, citizen_feedback,
unit_hazard); every admin code is the post-2025 GSO code.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, geomap, table, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import common as cm

from hub.grafana.common import (
    coloured_cells,
    commune_variable,
    last_value,
    map_panel,
    marker_layer,
    new_dashboard,
    over_time,
    override,
    per_tag,
    province_variable,
    query,
    risk_mappings,
    risk_thresholds,
    table_panel,
    tag_variable,
    threshold_steps,
    timeseries_panel,
)
from hub.grafana.dashboards.registry import register_dashboard
from hub.grafana.influxql import InfluxQL

UID = "iocgw-admin-units"
TITLE = "iocgw · Kinh tế - xã hội và dịch vụ công (administrative units)"
UNITS = '"province_code" =~ /^$province$/ AND "admin_code" =~ /^$unit$/ AND $timeFilter'
# Indicators are monthly to yearly: a week shows nothing.
TIME_RANGE = ("now-2y", "now")


def indicator_variable() -> db.QueryVariable:
    return tag_variable("indicator", "Chỉ tiêu", "admin_indicator", "indicator", '"province_code" =~ /^$province$/')


def hazard_table() -> table.Panel:
    """The merged view: each unit's current hazard level next to its population and services."""
    return (
        table_panel(
            "Đơn vị hành chính: cấp nguy cơ hiện tại, dân số, trường học, trạm y tế",
            per_tag(
                "A",
                'last("hazard_level") AS "hazard_level", "hazard", "name", "population", "households", '
                '"schools", "health_stations"',
                "unit_hazard",
                UNITS,
                "admin_code",
                table=True,
            ),
            height=10,
            span=14,
        )
        .thresholds(risk_thresholds())
        .mappings(risk_mappings())
        .overrides([coloured_cells("hazard_level"), override("Time", custom__hidden=True)])
    )


def hazard_map() -> geomap.Panel:
    style = {
        "color": {"field": "hazard_level", "fixed": "dark-green"},
        "size": {"field": "population", "fixed": 8, "min": 5, "max": 20},
        "opacity": 0.8,
    }
    return (
        map_panel("Bản đồ cấp nguy cơ theo đơn vị", [marker_layer("Đơn vị hành chính", style)], height=10, span=10)
        .with_target(
            per_tag(
                "A",
                'last("hazard_level") AS "hazard_level", "lat", "lon", "name", "population"',
                "unit_hazard",
                UNITS,
                "admin_code",
                table=True,
            )
        )
        .thresholds(risk_thresholds())
        .mappings(risk_mappings())
    )


def indicators() -> timeseries.Panel:
    return timeseries_panel(
        "Chỉ tiêu kinh tế - xã hội theo kỳ",
        over_time(
            "A",
            'last("value")',
            "admin_indicator",
            f'"indicator" =~ /^$indicator$/ AND {UNITS}',
            "admin_code",
            "indicator",
            every="1d",
            alias="$tag_admin_code $tag_indicator",
        ),
        height=9,
        span=12,
    ).show_points(cm.VisibilityMode.ALWAYS)


def anomalies() -> table.Panel:
    return table_panel(
        "Chỉ tiêu bất thường (dưới kế hoạch, vượt dự toán ...)",
        query(
            "A",
            'SELECT "value", "plan", "change_pct", "anomaly_reason", "unit" FROM "admin_indicator" '
            f'WHERE "anomaly" = 1 AND {UNITS} GROUP BY "admin_code", "indicator", "period_type" '
            "ORDER BY time DESC LIMIT 50",
            table=True,
        ),
        height=9,
        span=12,
    )


def on_time_rate() -> timeseries.Panel:
    return (
        timeseries_panel(
            "Hồ sơ một cửa: tỷ lệ đúng hạn, trực tuyến, hài lòng (QĐ 766)",
            over_time(
                "A",
                'last("on_time_rate_pct") AS "đúng hạn", last("online_rate_pct") AS "trực tuyến", '
                'last("satisfaction_pct") AS "hài lòng"',
                "public_service",
                UNITS,
                "admin_code",
                every="1d",
                alias="$tag_admin_code $col",
            ),
            unit="percent",
            height=9,
            span=12,
        )
        .min(0)
        .max(100)
        .show_points(cm.VisibilityMode.ALWAYS)
    )


def on_time_thresholds() -> db.ThresholdsConfig:
    # Red below 90 %, amber below 95 %: a reading aid, not a legal band (QĐ 766 scores the rate, it sets no bar).
    return threshold_steps("red", [(90, "orange"), (95, "green")])


def _bar_gauge(title: str, target: InfluxQL) -> bargauge.Panel:
    return bargauge.Panel().title(title).reduce_options(last_value()).with_target(target).height(9).span(12)


def on_time_now() -> bargauge.Panel:
    return (
        _bar_gauge(
            "Tỷ lệ đúng hạn kỳ gần nhất",
            per_tag("A", 'last("on_time_rate_pct")', "public_service", UNITS, "admin_code", alias="$tag_admin_code"),
        )
        .unit("percent")
        .min(0)
        .max(100)
        .thresholds(on_time_thresholds())
    )


def feedback() -> bargauge.Panel:
    return _bar_gauge(
        "Phản ánh kiến nghị theo lĩnh vực và trạng thái",
        per_tag(
            "A", 'sum("count")', "citizen_feedback", UNITS, "category", "status", alias="$tag_category · $tag_status"
        ),
    )


@register_dashboard(UID)
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
