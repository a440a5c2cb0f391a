"""Forest fire: Nesterov index and danger level I-V per area, camera detections with links to their snapshots."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import stat, statetimeline, table, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

from hub.alerts.rules.nesterov import FireDangerBands
from hub.grafana.common import (
    FIRE_COLOURS,
    fire_area_variable,
    fire_mappings,
    fire_thresholds,
    hub_url_variable,
    last_value,
    legend,
    new_dashboard,
    override,
    province_variable,
    query,
)

UID = "iocgw-forest-fire"
TITLE = "iocgw · Cháy rừng (forest fire)"
FIRE_AREA = '"area_id" =~ /^$fire_area$/ AND $timeFilter'
SNAPSHOT_URL = "${hub_url}/api/snapshots/${__data.fields.node_id}/${__data.fields.camera}/${__data.fields.label}"


def nesterov_index() -> timeseries.Panel:
    # Shading at the TT 25/2019 default bands; a province with its own table sees the hub's levels in the panel
    # beside this one, which follow its configuration.
    bands = FireDangerBands().upper_bounds
    steps = [dm.Threshold(value=None, color=FIRE_COLOURS[0])] + [
        dm.Threshold(value=b, color=c) for b, c in zip(bands, FIRE_COLOURS[1:], strict=True)
    ]
    return (
        timeseries.Panel()
        .title("Chỉ số Nesterov P theo vùng")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT last("p") AS "P" FROM "fire_danger" WHERE {FIRE_AREA} '
                'GROUP BY time($__interval), "area_id" fill(previous)',
                alias="$tag_area_id",
            )
        )
        .thresholds(db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps))
        .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.LINE_AND_AREA))
        .height(9)
        .span(16)
    )


def current_level() -> stat.Panel:
    return (
        stat.Panel()
        .title("Cấp dự báo cháy rừng hiện tại")
        .reduce_options(last_value())
        .with_target(
            query(
                "A",
                f'SELECT last("level") AS "cấp" FROM "fire_danger" WHERE {FIRE_AREA} GROUP BY "area_id"',
                alias="$tag_area_id",
            )
        )
        .thresholds(fire_thresholds())
        .mappings(fire_mappings())
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .height(9)
        .span(8)
    )


def level_timeline() -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title("Cấp I-V theo thời gian")
        .show_value(cm.VisibilityMode.AUTO)
        .with_target(
            query(
                "A",
                f'SELECT last("level") FROM "fire_danger" WHERE {FIRE_AREA} '
                'GROUP BY time($__interval), "area_id" fill(previous)',
                alias="$tag_area_id",
            )
        )
        .thresholds(fire_thresholds())
        .mappings(fire_mappings())
        .height(6)
        .span(24)
    )


def detections() -> table.Panel:
    link = {"title": "ảnh chụp (snapshot)", "url": SNAPSHOT_URL, "targetBlank": True}
    return (
        table.Panel()
        .title("Phát hiện của camera (bấm để xem ảnh chụp)")
        .show_header(True)
        .with_target(
            query(
                "A",
                'SELECT "phase", "score", "top_score", "event_id", "zones" FROM "camera_event" '
                'WHERE "admin_code" =~ /^$province/ AND $timeFilter GROUP BY "node_id", "camera", "label" '
                "ORDER BY time DESC LIMIT 100",
                table=True,
            )
        )
        .overrides([override("label", links=[link]), override("top_score", unit="percentunit")])
        .height(10)
        .span(24)
    )


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
