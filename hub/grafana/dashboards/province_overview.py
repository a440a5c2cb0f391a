"""Province overview: map of stations, reservoirs and cameras by current level, active alerts, risk per area, fleet."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import geomap, stat, table
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import geomap as gm

from hub.grafana.common import (
    COLOUR_CELLS,
    band_mappings,
    bd_level_thresholds,
    bd_mappings,
    last_value,
    new_dashboard,
    override,
    province_variable,
    query,
    risk_mappings,
    risk_thresholds,
)

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
    """Markers at the frame's lat / lon fields, coloured by ``colour_field`` through the panel's thresholds and
    value mappings; each layer reads only its own query."""
    return (
        cb.MapLayerOptions()
        .type("markers")
        .name(name)
        .location(cb.FrameGeometrySource().mode(cm.FrameGeometrySourceMode.COORDS).latitude("lat").longitude("lon"))
        .filter_data({"id": "byRefId", "options": ref_id})
        .tooltip(True)
        .config(
            {
                "showLegend": True,
                "style": {
                    "color": {"field": colour_field, "fixed": "dark-green"},
                    "size": {"fixed": 9, "min": 4, "max": 15},
                    "symbol": {"fixed": f"img/icons/marker/{symbol}.svg", "mode": "fixed"},
                    "opacity": 0.9,
                },
            }
        )
    )


def site_map() -> geomap.Panel:
    return (
        geomap.Panel()
        .title("Bản đồ trạm, hồ chứa và camera theo cấp hiện tại")
        .view(_view())
        .tooltip(geomap.TooltipOptions().mode(gm.TooltipMode.DETAILS))
        .basemap(cb.MapLayerOptions().type("osm-standard").name("OpenStreetMap"))
        .layers(
            [
                _marker_layer("Trạm thủy văn (BĐ)", "A", "level", "circle"),
                _marker_layer("Hồ chứa", "B", "band", "square"),
                _marker_layer("Camera", "C", "top_score", "triangle"),
            ]
        )
        .with_target(
            query(
                "A",
                'SELECT last("level") AS "level", "stage_m", "lat", "lon" FROM "flood_level" '
                f'WHERE {AREA} GROUP BY "station_id"',
                table=True,
            )
        )
        .with_target(
            query(
                "B",
                'SELECT last("band") AS "band", "level_m", "lat", "lon" FROM "reservoir_state" '
                f'WHERE {AREA} GROUP BY "reservoir_id"',
                table=True,
            )
        )
        .with_target(
            query(
                "C",
                'SELECT last("top_score") AS "top_score", "phase", "lat", "lon" FROM "camera_event" '
                f'WHERE {ADMIN} GROUP BY "node_id", "camera", "label"',
                table=True,
            )
        )
        .thresholds(bd_level_thresholds())
        .mappings([*bd_mappings(), *band_mappings()])
        .overrides([override("top_score", thresholds=CAMERA_SCORE_THRESHOLDS, unit="percentunit")])
        .height(14)
        .span(16)
    )


def _view() -> geomap.MapViewConfig:
    # Viet Nam as a whole: a province zooms in from there; "fit to data" would jump as points arrive.
    return geomap.MapViewConfig().id("coords").lat(16.0).lon(106.0).zoom(5.5)


def risk_per_area() -> stat.Panel:
    return (
        stat.Panel()
        .title("Cấp độ rủi ro thiên tai theo địa bàn (QĐ 18/2021)")
        .reduce_options(last_value())
        .with_target(
            query(
                "A", f'SELECT last("level") AS "cấp" FROM "risk_level" WHERE {AREA} GROUP BY "area"', alias="$tag_area"
            )
        )
        .thresholds(risk_thresholds())
        .mappings(risk_mappings())
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .height(7)
        .span(8)
    )


def active_alerts() -> table.Panel:
    """The last transition of each alarm (rule and subject); those still active are kept."""
    return (
        table.Panel()
        .title("Cảnh báo đang hoạt động")
        .show_header(True)
        .with_target(
            query(
                "A",
                'SELECT last("active") AS "active", "state", "level", "value", "message", "severity" FROM "alarm" '
                f'WHERE {AREA} GROUP BY "rule", "subject", "area"',
                table=True,
            )
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
        .overrides([override("Time", unit="dateTimeFromNow", displayName="từ")])
        .height(10)
        .span(16)
    )


def fleet_status() -> table.Panel:
    return (
        table.Panel()
        .title("Nút biên: trạng thái")
        .show_header(True)
        .with_target(
            query(
                "A",
                f'SELECT last("seq") AS "seq", "state", "outbox_depth" FROM "node_status" WHERE {ADMIN} '
                'GROUP BY "node_id"',
                table=True,
            )
        )
        .mappings(
            [
                dm.ValueMap(
                    options={
                        "online": dm.ValueMappingResult(text="online", color="green", index=0),
                        "offline": dm.ValueMappingResult(text="offline", color="red", index=1),
                    }
                )
            ]
        )
        .overrides(
            [
                override("state", custom__cellOptions=COLOUR_CELLS),
                override("Time", unit="dateTimeFromNow", displayName="nhịp cuối"),
            ]
        )
        .height(10)
        .span(8)
    )


def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Stations, reservoirs and cameras by warning level; alerts; risk levels; fleet")
        .with_variable(province_variable())
        .with_panel(site_map())
        .with_panel(risk_per_area())
        .with_panel(active_alerts())
        .with_panel(fleet_status())
    )
