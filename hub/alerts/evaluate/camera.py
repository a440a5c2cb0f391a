"""Camera fire / smoke events: an alarm whose severity rises with the area's forest-fire danger level."""

from __future__ import annotations

from collections.abc import Mapping

from hub.alerts.alarm import Condition
from hub.alerts.evaluate.base import Context, Evaluator
from hub.alerts.rules.camera import LABEL_VI, CameraSeverityTable, camera_alert_severity
from hub.alerts.rules.severity import Severity
from wire import EventMessage
from wire.messages import EventPhase


class CameraEvaluator(Evaluator):
    rule = "camera_fire"

    def __init__(self, table: CameraSeverityTable, names: Mapping[str, str] | None = None) -> None:
        """``names``: node id -> the node's name in the registry, so the message names the place, not the id."""
        self.table = table
        self.names = dict(names or {})

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
                message=camera_message(event, self.names.get(event.node_id)),
                details={"event_id": event.event_id, "snapshot": event.snapshot, "zones": event.zones},
            ),
            event.ts,
        )


def camera_message(event: EventMessage, node_name: str | None) -> str:
    """ "Camera thap-1 (Chòi canh Bạch Mã) thấy lửa, điểm 0.91": the label in Vietnamese, the node by its name."""
    label = LABEL_VI.get(event.label, event.label)
    label = label[0].lower() + label[1:] if label else label
    return f"Camera {event.camera} ({node_name or event.node_id}) thấy {label}, điểm {event.top_score:.2f}"
