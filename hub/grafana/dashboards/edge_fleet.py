"""Edge fleet: online / offline, heartbeat age, outbox depth, camera frame rate and inference time, dead letters."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, table, text, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import text as tm

from hub.grafana.common import (
    COLOUR_CELLS,
    hub_url_variable,
    legend,
    new_dashboard,
    node_variable,
    override,
    province_variable,
    query,
)

UID = "iocgw-edge-fleet"
TITLE = "iocgw · Thiết bị biên (edge fleet)"
NODE = '"node_id" =~ /^$node$/ AND $timeFilter'
# Camera health figures a node reports in its status ``extra`` map; the hub stores them as x_<name> fields.
CAMERA_FPS = "x_camera_fps"
INFERENCE_MS = "x_inference_ms"
STATE_MAPPINGS = [
    dm.ValueMap(
        options={
            "online": dm.ValueMappingResult(text="online", color="green", index=0),
            "offline": dm.ValueMappingResult(text="offline", color="red", index=1),
        }
    )
]


def status_table() -> table.Panel:
    return (
        table.Panel()
        .title("Trạng thái và tuổi nhịp tim (heartbeat age)")
        .show_header(True)
        .with_target(
            query(
                "A",
                'SELECT last("seq") AS "seq", "state", "uptime_s", "outbox_depth", "outbox_dropped", "disk_free_bytes" '
                f'FROM "node_status" WHERE {NODE} GROUP BY "node_id"',
                table=True,
            )
        )
        .mappings(STATE_MAPPINGS)
        .overrides(
            [
                override("Time", unit="dateTimeFromNow", displayName="nhịp tim cuối"),
                override("state", custom__cellOptions=COLOUR_CELLS),
                override("uptime_s", unit="s"),
                override("disk_free_bytes", unit="bytes"),
            ]
        )
        .height(9)
        .span(24)
    )


def online_timeline() -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title("Online / offline")
        .show_value(cm.VisibilityMode.NEVER)
        .with_target(
            query(
                "A",
                f'SELECT last("state") FROM "node_status" WHERE {NODE} '
                'GROUP BY time($__interval), "node_id" fill(previous)',
                alias="$tag_node_id",
            )
        )
        .mappings(STATE_MAPPINGS)
        .height(8)
        .span(12)
    )


def outbox_depth() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Hàng đợi outbox (tin chưa xác nhận)")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT max("outbox_depth") FROM "node_status" WHERE {NODE} '
                'GROUP BY time($__interval), "node_id" fill(none)',
                alias="$tag_node_id",
            )
        )
        .height(8)
        .span(12)
    )


def camera_fps() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Camera: khung hình/giây")
        .unit("fps")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("{CAMERA_FPS}") FROM "node_status" WHERE {NODE} '
                'GROUP BY time($__interval), "node_id" fill(none)',
                alias="$tag_node_id",
            )
        )
        .height(8)
        .span(12)
    )


def inference_time() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Camera: thời gian suy luận (ms)")
        .unit("ms")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("{INFERENCE_MS}") FROM "node_status" WHERE {NODE} '
                'GROUP BY time($__interval), "node_id" fill(none)',
                alias="$tag_node_id",
            )
        )
        .height(8)
        .span(12)
    )


def dead_letters() -> text.Panel:
    # The hub keeps dead letters in its SQLite state, not in InfluxDB; its API lists them.
    return (
        text.Panel()
        .title("Thư chết (dead letters)")
        .mode(tm.TextMode.MARKDOWN)
        .content(
            "Dead letters (messages the hub could not accept, with the reason) are listed by the hub's API: "
            "[${hub_url}/api/dead-letters](${hub_url}/api/dead-letters) (viewer token), and counted in "
            "`iocgw_hub_dead_letters_total` at [${hub_url}/metrics](${hub_url}/metrics)."
        )
        .height(4)
        .span(24)
    )


def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Health of the edge nodes from their status messages")
        .with_variable(province_variable())
        .with_variable(node_variable())
        .with_variable(hub_url_variable())
        .with_panel(status_table())
        .with_panel(online_timeline())
        .with_panel(outbox_depth())
        .with_panel(camera_fps())
        .with_panel(inference_time())
        .with_panel(dead_letters())
    )
