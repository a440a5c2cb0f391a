"""Data quality: a sensor whose readings reach the hub incompletely (received / expected per local day).

An alarm for the technicians (a failing modem, a flat battery, a full card), routed by rule ``data_quality``. It
never records a hazard (no ``ctx.hazard``): a station missing data is not a flood, and must not raise the area's
disaster risk level. Fed by ``AlertEngine.completeness`` with reports from hub/quality/completeness_job.py.
"""

from __future__ import annotations

from datetime import date, timedelta

from hub.alerts.alarm import Condition
from hub.alerts.evaluate.base import Context, Evaluator
from hub.quality.completeness import DayCompleteness, day_bounds, local_day
from hub.quality.config import CompletenessSettings

RULE = "data_quality"


class DataQualityEvaluator(Evaluator):
    """One alarm per (node, sensor): active while the day it is judged on is under its ``min_ratio``.

    The day judged: today (so far) once ``min_hours_into_day`` hours of it have passed, yesterday's whole day
    before that. So at 00:10 a sensor is not judged on the one reading it owes, an alarm raised yesterday evening
    stays up through the night if yesterday ended short, and clears at midnight if yesterday caught up (an outbox
    delivering its backlog). Reports for any other day are ignored, whatever order they come in.
    """

    rule = RULE

    def __init__(self, settings: CompletenessSettings) -> None:
        self.settings = settings

    def _judged_day(self, ctx: Context) -> tuple[date, str]:
        today = local_day(ctx.now)
        into_day_h = (ctx.now - day_bounds(today)[0]).total_seconds() / 3600
        if into_day_h >= self.settings.min_hours_into_day:
            return today, "hôm nay"
        return today - timedelta(days=1), "hôm qua"

    def on_completeness(self, node_id: str, sensor_id: str, day: DayCompleteness, ctx: Context) -> None:
        judged, when = self._judged_day(ctx)
        if day.day != judged:
            return
        rule = self.settings.rule_for(node_id, sensor_id)
        ratio = day.ratio
        percent = round(ratio * 100, 1)
        expected = round(day.expected)
        short = ratio < rule.min_ratio
        state = "thiếu" if short else "đủ"
        ctx.emit(
            self.rule,
            f"{node_id}/{sensor_id}",
            ctx.area_of(node_id),
            Condition(
                active=rule.alarm and short,
                severity=rule.severity,
                value=percent,
                message=f"Dữ liệu trạm {node_id} ({sensor_id}) {state}: "
                f"{day.received}/{expected} bản tin ({percent:g} %) {when}",
                details={
                    "day": day.day.isoformat(),
                    "received": day.received,
                    "expected": round(day.expected, 1),
                    "ratio": round(ratio, 4),
                    "min_ratio": rule.min_ratio,
                },
            ),
        )
