"""Dam safety: reservoir level against its named levels, band over time, inflow and outflow, seepage."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import statetimeline, timeseries
from grafana_foundation_sdk.models import common as cm

from hub.grafana.common import (
    band_mappings,
    legend,
    new_dashboard,
    override,
    province_variable,
    query,
    reservoir_variable,
    tag_values,
)

UID = "iocgw-dam-safety"
TITLE = "iocgw · An toàn đập (dam safety)"
RESERVOIR = '"reservoir_id" =~ /^$reservoir$/ AND $timeFilter'
DAM_NODE = '"node_id" =~ /^$dam_node$/ AND $timeFilter'
# Named levels (NĐ 114/2018), as the hub stores them with each reservoir_state point: field, label, colour.
NAMED_LEVELS = (
    ("dead_level_m", "MNC (mực nước chết)", "purple"),
    ("pre_flood_level_m", "MN trước lũ", "blue"),
    ("normal_level_m", "MNDBT", "green"),
    ("design_flood_level_m", "MNLTK (thiết kế)", "#FF7F00"),
    ("check_flood_level_m", "MNLKT (kiểm tra)", "#E02F44"),
)


def dam_node_variable() -> db.QueryVariable:
    """Nodes reporting reservoir instruments (inflow, outflow, seepage are readings of a node, not of a reservoir)."""
    return tag_values(
        "dam_node",
        "Nút đo của hồ",
        'SHOW TAG VALUES FROM "reservoir_level" WITH KEY = "node_id" WHERE "admin_code" =~ /^$province/',
    )


def level_vs_named() -> timeseries.Panel:
    named = ", ".join(f'last("{f}") AS "{label}"' for f, label, _ in NAMED_LEVELS)
    return (
        timeseries.Panel()
        .title("Mực nước hồ $reservoir so với các mực nước đặc trưng")
        .unit("lengthm")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("level_m") AS "mực nước hồ" FROM "reservoir_state" WHERE {RESERVOIR} '
                "GROUP BY time($__interval) fill(none)",
            )
        )
        .with_target(
            query(
                "B",
                f'SELECT {named} FROM "reservoir_state" WHERE {RESERVOIR} GROUP BY time($__interval) fill(previous)',
            )
        )
        .overrides(
            [
                override(
                    label,
                    color={"mode": "fixed", "fixedColor": colour},
                    custom__lineStyle={"fill": "dash", "dash": [10, 10]},
                )
                for _, label, colour in NAMED_LEVELS
            ]
        )
        .height(10)
        .span(16)
    )


def band_timeline() -> statetimeline.Panel:
    return (
        statetimeline.Panel()
        .title("Vùng mực nước")
        .show_value(cm.VisibilityMode.AUTO)
        .with_target(
            query(
                "A",
                f'SELECT last("band") AS "vùng" FROM "reservoir_state" WHERE {RESERVOIR} '
                "GROUP BY time($__interval) fill(previous)",
            )
        )
        .mappings(band_mappings())
        .height(5)
        .span(8)
    )


def rise_rate() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Tốc độ mực nước lên (m/h)")
        .unit("m/h")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("rate_m_per_h") AS "m/h" FROM "reservoir_state" WHERE {RESERVOIR} '
                "GROUP BY time($__interval) fill(none)",
            )
        )
        .height(5)
        .span(8)
    )


def flows() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Lưu lượng đến và xả (m³/s)")
        .unit("m3/s")  # Grafana has no m³/s unit id; the text suffix is shown as is
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("value") AS "lưu lượng đến" FROM "inflow" WHERE {DAM_NODE} '
                'GROUP BY time($__interval), "node_id" fill(none)',
                alias="$tag_node_id đến",
            )
        )
        .with_target(
            query(
                "B",
                f'SELECT mean("value") AS "lưu lượng xả" FROM "outflow" WHERE {DAM_NODE} '
                'GROUP BY time($__interval), "node_id" fill(none)',
                alias="$tag_node_id xả",
            )
        )
        .height(8)
        .span(12)
    )


def seepage() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Thấm qua đập (l/s)")
        .unit("l/s")
        .legend(legend())
        .with_target(
            query(
                "A",
                f'SELECT mean("value") FROM "seepage" WHERE {DAM_NODE} '
                'GROUP BY time($__interval), "node_id", "sensor_id" fill(none)',
                alias="$tag_node_id/$tag_sensor_id",
            )
        )
        .height(8)
        .span(12)
    )


def build() -> db.Dashboard:
    return (
        new_dashboard(UID, TITLE, "Reservoir level against its named levels (NĐ 114/2018), flows and seepage")
        .with_variable(province_variable())
        .with_variable(reservoir_variable())
        .with_variable(dam_node_variable())
        .with_panel(level_vs_named())
        .with_panel(band_timeline())
        .with_panel(rise_rate())
        .with_panel(flows())
        .with_panel(seepage())
    )
