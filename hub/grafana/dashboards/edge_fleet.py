"""Edge fleet: online / offline, heartbeat age, outbox depth, camera frame rate and inference time, dead letters."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, table, text, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import text as tm

from hub.grafana.common import (
    age_column,
    coloured_cells,
    hub_url_variable,
    new_dashboard,
    node_state_mappings,
    node_variable,
    over_time,
    override,
    per_tag,
    province_variable,
    state_timeline,
    table_panel,
    timeseries_panel,
)
from hub.grafana.dashboards.registry import register_dashboard

UID = "iocgw-edge-fleet"
TITLE = "iocgw · Thiết bị biên (edge fleet)"
NODE = '"node_id" =~ /^$node$/ AND $timeFilter'
# Camera health figures a node reports in its status ``extra`` map; the hub stores them as x_<name> fields.
CAMERA_FPS = "x_camera_fps"
INFERENCE_MS = "x_inference_ms"


def status_table() -> table.Panel:
    return (
        table_panel(
            "Trạng thái và tuổi nhịp tim (heartbeat age)",
            per_tag(
                "A",
                'last("seq") AS "seq", "state", "uptime_s", "outbox_depth", "outbox_dropped", "disk_free_bytes"',
                "node_status",
                NODE,
                "node_id",
                table=True,
            ),
            height=9,
            span=24,
        )
        .mappings(node_state_mappings())
        .overrides(
            [
                age_column("nhịp tim cuối"),
                coloured_cells("state"),
                override("uptime_s", unit="s"),
                override("disk_free_bytes", unit="bytes"),
            ]
        )
    )


def online_timeline() -> statetimeline.Panel:
    return state_timeline(
        "Online / offline",
        over_time("A", 'last("state")', "node_status", NODE, "node_id", fill="previous", alias="$tag_node_id"),
        node_state_mappings(),
        show_value=cm.VisibilityMode.NEVER,
        height=8,
        span=12,
    )


def _per_node(title: str, select: str, unit: str | None = None) -> timeseries.Panel:
    """One status figure over time, a line per node."""
    return timeseries_panel(
        title,
        over_time("A", select, "node_status", NODE, "node_id", alias="$tag_node_id"),
        unit=unit,
        height=8,
        span=12,
    )


def outbox_depth() -> timeseries.Panel:
    return _per_node("Hàng đợi outbox (tin chưa xác nhận)", 'max("outbox_depth")')


def camera_fps() -> timeseries.Panel:
    return _per_node("Camera: khung hình/giây", f'mean("{CAMERA_FPS}")', unit="fps")


def inference_time() -> timeseries.Panel:
    return _per_node("Camera: thời gian suy luận (ms)", f'mean("{INFERENCE_MS}")', unit="ms")


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


@register_dashboard(UID)
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
