"""Forest fire: Nesterov index and danger level I-V per area, camera detections with links to their snapshots."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm

from hub.alerts.rules.nesterov import FireDangerBands
from hub.grafana.common import (
    FIRE_COLOURS,
    fire_area_variable,
    fire_mappings,
    fire_thresholds,
    hub_url_variable,
    level_stat,
    new_dashboard,
    over_time,
    override,
    per_tag,
    province_variable,
    query,
    state_timeline,
    table_panel,
    threshold_steps,
    timeseries_panel,
)
from hub.grafana.dashboards.registry import register_dashboard

UID = "iocgw-forest-fire"
TITLE = "iocgw · Cháy rừng (forest fire)"
FIRE_AREA = '"area_id" =~ /^$fire_area$/ AND $timeFilter'
SNAPSHOT_URL = "${hub_url}/api/snapshots/${__data.fields.node_id}/${__data.fields.camera}/${__data.fields.label}"


def nesterov_index() -> timeseries.Panel:
    # Shading at the TT 25/2019 default bands; a province with its own table sees the hub's levels in the panel
    # beside this one, which follow its configuration.
    bands = FireDangerBands().upper_bounds
    return (
        timeseries_panel(
            "Chỉ số Nesterov P theo vùng",
            over_time(
                "A", 'last("p") AS "P"', "fire_danger", FIRE_AREA, "area_id", fill="previous", alias="$tag_area_id"
            ),
            height=9,
            span=16,
        )
        .thresholds(threshold_steps(FIRE_COLOURS[0], list(zip(bands, FIRE_COLOURS[1:], strict=True))))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.LINE_AND_AREA))
    )


def current_level() -> stat.Panel:
    return level_stat(
        "Cấp dự báo cháy rừng hiện tại",
        per_tag("A", 'last("level") AS "cấp"', "fire_danger", FIRE_AREA, "area_id", alias="$tag_area_id"),
        fire_thresholds(),
        fire_mappings(),
        height=9,
        span=8,
    )


def level_timeline() -> statetimeline.Panel:
    return state_timeline(
        "Cấp I-V theo thời gian",
        over_time("A", 'last("level")', "fire_danger", FIRE_AREA, "area_id", fill="previous", alias="$tag_area_id"),
        fire_mappings(),
        thresholds=fire_thresholds(),
        height=6,
        span=24,
    )


def detections() -> table.Panel:
    link = {"title": "ảnh chụp (snapshot)", "url": SNAPSHOT_URL, "targetBlank": True}
    return table_panel(
        "Phát hiện của camera (bấm để xem ảnh chụp)",
        query(
            "A",
            'SELECT "phase", "score", "top_score", "event_id", "zones" FROM "camera_event" '
            'WHERE "admin_code" =~ /^$province/ AND $timeFilter GROUP BY "node_id", "camera", "label" '
            "ORDER BY time DESC LIMIT 100",
            table=True,
        ),
        height=10,
        span=24,
    ).overrides([override("label", links=[link]), override("top_score", unit="percentunit")])


@register_dashboard(UID)
def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Nesterov index and fire-danger levels I-V (TT 25/2019); camera detections")
        .with_variable(province_variable())
        .with_variable(fire_area_variable())
        .with_variable(hub_url_variable())
        .with_panel(nesterov_index())
        .with_panel(current_level())
        .with_panel(level_timeline())
        .with_panel(detections())
    )
