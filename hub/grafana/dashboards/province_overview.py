"""Province overview: map of stations, reservoirs and cameras by current level, active alerts, risk per area, fleet."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap, stat, table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from hub.grafana.common import (
    age_column,
    band_mappings,
    bd_level_thresholds,
    bd_mappings,
    coloured_cells,
    level_stat,
    map_panel,
    marker_layer,
    new_dashboard,
    node_state_mappings,
    override,
    per_tag,
    province_variable,
    risk_mappings,
    risk_thresholds,
    table_panel,
)
from hub.grafana.dashboards.registry import register_dashboard

UID = "iocgw-overview"
TITLE = "iocgw · Tổng quan tỉnh (province overview)"
AREA = '"area" =~ /^$province/ AND $timeFilter'
ADMIN = '"admin_code" =~ /^$province/ AND $timeFilter'


# A camera marker turns amber then red as its detection grows surer (the panel's BĐ thresholds fit levels 0-3).
CAMERA_SCORE_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"value": None, "color": "green"}, {"value": 0.5, "color": "#FF7F00"}, {"value": 0.8, "color": "red"}],
}


def _marker_layer(name: str, ref_id: str, colour_field: str, symbol: str) -> cb.MapLayerOptions:
    """Markers coloured by ``colour_field`` through the panel's thresholds and value mappings; each layer reads only
    its own query."""
    style = {
        "color": {"field": colour_field, "fixed": "dark-green"},
        "size": {"fixed": 9, "min": 4, "max": 15},
        "symbol": {"fixed": f"img/icons/marker/{symbol}.svg", "mode": "fixed"},
        "opacity": 0.9,
    }
    return marker_layer(name, style, ref_id=ref_id)


def site_map() -> geomap.Panel:
    layers = [
        _marker_layer("Trạm thủy văn (BĐ)", "A", "level", "circle"),
        _marker_layer("Hồ chứa", "B", "band", "square"),
        _marker_layer("Camera", "C", "top_score", "triangle"),
    ]
    return (
        map_panel("Bản đồ trạm, hồ chứa và camera theo cấp hiện tại", layers, height=14, span=16)
        .with_target(
            per_tag(
                "A", 'last("level") AS "level", "stage_m", "lat", "lon"', "flood_level", AREA, "station_id", table=True
            )
        )
        .with_target(
            per_tag(
                "B",
                'last("band") AS "band", "level_m", "lat", "lon"',
                "reservoir_state",
                AREA,
                "reservoir_id",
                table=True,
            )
        )
        .with_target(
            per_tag(
                "C",
                'last("top_score") AS "top_score", "phase", "lat", "lon"',
                "camera_event",
                ADMIN,
                "node_id",
                "camera",
                "label",
                table=True,
            )
        )
        .thresholds(bd_level_thresholds())
        .mappings([*bd_mappings(), *band_mappings()])
        .overrides([override("top_score", thresholds=CAMERA_SCORE_THRESHOLDS, unit="percentunit")])
    )


def risk_per_area() -> stat.Panel:
    return level_stat(
        "Cấp độ rủi ro thiên tai theo địa bàn (QĐ 18/2021)",
        per_tag("A", 'last("level") AS "cấp"', "risk_level", AREA, "area", alias="$tag_area"),
        risk_thresholds(),
        risk_mappings(),
        height=7,
        span=8,
    ).graph_mode(cm.BigValueGraphMode.NONE)


def active_alerts() -> table.Panel:
    """The last transition of each alarm (rule and subject); those still active are kept."""
    return (
        table_panel(
            "Cảnh báo đang hoạt động",
            per_tag(
                "A",
                'last("active") AS "active", "state", "level", "value", "message", "severity"',
                "alarm",
                AREA,
                "rule",
                "subject",
                "area",
                table=True,
            ),
            height=10,
            span=16,
        )
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="filterByValue",
                options={
                    "type": "include",
                    "match": "any",
                    "filters": [{"fieldName": "active", "config": {"id": "equal", "options": {"value": True}}}],
                },
            )
        )
        .overrides([age_column("từ")])
    )


def fleet_status() -> table.Panel:
    return (
        table_panel(
            "Nút biên: trạng thái",
            per_tag("A", 'last("seq") AS "seq", "state", "outbox_depth"', "node_status", ADMIN, "node_id", table=True),
            height=10,
            span=8,
        )
        .mappings(node_state_mappings())
        .overrides([coloured_cells("state"), age_column("nhịp cuối")])
    )


@register_dashboard(UID)
def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Stations, reservoirs and cameras by warning level; alerts; risk levels; fleet")
        .with_variable(province_variable())
        .with_panel(site_map())
        .with_panel(risk_per_area())
        .with_panel(active_alerts())
        .with_panel(fleet_status())
    )
