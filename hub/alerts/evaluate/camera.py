"""Camera fire / smoke events: an alarm whose severity rises with the area's forest-fire danger level."""

from __future__ import annotations

from hub.alerts.alarm import Condition
from hub.alerts.evaluate.base import Context, Evaluator
from hub.alerts.rules.camera import CameraSeverityTable, camera_alert_severity
from hub.alerts.rules.severity import Severity
from wire import EventMessage
from wire.messages import EventPhase


class CameraEvaluator(Evaluator):
    rule = "camera_fire"

    def __init__(self, table: CameraSeverityTable) -> None:
        self.table = table

    def on_event(self, event: EventMessage, ctx: Context) -> None:
        area = ctx.area_of(event.node_id)
        danger = ctx.fire_levels.get(area) if area else None
        severity = camera_alert_severity(event.label, event.top_score, danger, self.table)
        if severity is None:
            return
        ended = event.phase == EventPhase.END
        ctx.emit(
            self.rule,
            f"{event.node_id}/{event.camera}/{event.label}",
            area,
            Condition(
                active=not ended,
                severity=Severity.INFO if ended else severity,
                level=danger,
                value=event.top_score,
                message=f"Camera {event.camera} ({event.node_id}) thấy {event.label}, điểm {event.top_score:.2f}",
                details={"event_id": event.event_id, "snapshot": event.snapshot, "zones": event.zones},
            ),
            event.ts,
        )
