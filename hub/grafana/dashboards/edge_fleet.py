"""Edge fleet: online / offline, heartbeat age, outbox depth, camera frame rate and inference time, completeness of
each sensor's data per day, dead letters."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, table, text, timeseries
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import text as tm

from hub.grafana.common import (
    COLOUR_CELLS,
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
    query,
    state_timeline,
    table_panel,
    threshold_steps,
    timeseries_panel,
)
from hub.grafana.dashboards.registry import register_dashboard
from wire.quantities import Quantity

UID = "iocgw-edge-fleet"
TITLE = "iocgw · Thiết bị biên (edge fleet)"
NODE = '"node_id" =~ /^$node$/ AND $timeFilter'
# Camera health figures a node reports in its status ``extra`` map; the hub stores them as x_<name> fields.
CAMERA_FPS = "x_camera_fps"
INFERENCE_MS = "x_inference_ms"
# Written by the hub's completeness job (hub/quality/completeness_job.py): one point per sensor and local day.
COMPLETENESS = "completeness"
# The default data_quality target (hub/quality/config.py, completeness.min_ratio): red under it. A station with its
# own target is coloured by this one; its alarm follows its own.
COMPLETENESS_TARGET = 0.8


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


def completeness_thresholds() -> db.ThresholdsConfig:
    return threshold_steps("red", [(COMPLETENESS_TARGET, "green")])


def completeness_today() -> table.Panel:
    """Each sensor's latest day (today, while the job runs): received, expected so far, and their ratio."""
    return (
        table_panel(
            "Độ đầy đủ dữ liệu hôm nay (bản tin nhận / kỳ vọng)",
            per_tag(
                "A",
                'last("ratio") AS "ratio", "received", "expected"',
                COMPLETENESS,
                NODE,
                "node_id",
                "sensor_id",
                "quantity",
                table=True,
            ),
            height=9,
            span=12,
        )
        .thresholds(completeness_thresholds())
        .overrides(
            [
                # The point stands at the local day's start (00:00 UTC+7): the column is the day, not an age.
                override("Time", unit="time:YYYY-MM-DD", displayName="ngày"),
                override("ratio", unit="percentunit", decimals=1, custom__cellOptions=COLOUR_CELLS),
                override("expected", decimals=0),
            ]
        )
    )


def completeness_daily() -> timeseries.Panel:
    """The ratio per sensor and local day (buckets from 00:00 UTC+7, where the job's points stand)."""
    return (
        timeseries_panel(
            "Độ đầy đủ dữ liệu theo ngày",
            over_time(
                "A",
                'last("ratio")',
                COMPLETENESS,
                NODE,
                "node_id",
                "sensor_id",
                every="1d, 17h",
                alias="$tag_node_id/$tag_sensor_id",
            ),
            unit="percentunit",
            height=9,
            span=12,
        )
        .min(0)
        .max(1)
        .thresholds(completeness_thresholds())
        .show_points(cm.VisibilityMode.ALWAYS)
    )


# Every sensor measurement (one per quantity): the hub stores each reading with its quality flag (docs/quality.md).
READINGS = "/^(" + "|".join(q.value for q in Quantity) + ")$/"


def flagged_readings() -> timeseries.Panel:
    """Readings quality control flagged (suspect or bad, by the node or the hub), per sensor and hour."""
    sql = (
        f'SELECT count("value") FROM {READINGS} WHERE "quality" <> \'good\' AND {NODE} '
        'GROUP BY time(1h), "node_id", "sensor_id" fill(none)'
    )
    return (
        timeseries_panel(
            "Bản tin bị gắn cờ chất lượng (nghi ngờ / hỏng) mỗi giờ",
            query("A", sql, alias="$tag_node_id/$tag_sensor_id"),
            height=8,
            span=24,
        )
        .min(0)
        .show_points(cm.VisibilityMode.ALWAYS)
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
        .with_panel(completeness_today())
        .with_panel(completeness_daily())
        .with_panel(flagged_readings())
        .with_panel(dead_letters())
    )
