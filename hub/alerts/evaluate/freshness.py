"""Data freshness (TT 17/2021/TT-BTNMT): sensors silent past their interval, nodes that went offline."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.alerts.alarm import Condition
from hub.alerts.config import FreshnessSettings
from hub.alerts.evaluate.base import Context, Evaluator
from hub.alerts.rules.freshness import is_stale, staleness_s
from hub.alerts.rules.severity import Severity


class FreshnessEvaluator(Evaluator):
    """``intervals`` maps (node, sensor) to its sampling interval; ``last_seen`` is kept by the engine."""

    rule = "data_freshness"

    def __init__(self, settings: FreshnessSettings, intervals: dict[tuple[str, str], float], started: datetime) -> None:
        self.settings = settings
        self.intervals = intervals
        self.started = started  # a sensor never heard from is timed from the hub's start, not from 1970

    def check(self, last_seen: dict[tuple[str, str], float], ctx: Context) -> None:
        if not self.settings.enabled:
            return
        stopped = set(ctx.get("freshness:stopped", []))
        resumed: dict[str, float] = ctx.get("freshness:resumed", {})
        for (node, sensor), interval in self.intervals.items():
            if node in stopped:
                # A node shut down cleanly is being serviced, not failing; its own status says so.
                ctx.emit(self.rule, f"{node}/{sensor}", ctx.area_of(node), Condition(active=False))
                continue
            seen = max(last_seen.get((node, sensor), 0.0), resumed.get(node, 0.0))
            last = datetime.fromtimestamp(seen, UTC) if seen else self.started
            stale = is_stale(last, ctx.now, interval or self.settings.default_interval_s, self.settings.grace_factor)
            ctx.emit(
                self.rule,
                f"{node}/{sensor}",
                ctx.area_of(node),
                Condition(
                    active=stale,
                    severity=Severity.WARNING,
                    value=round((ctx.now - last).total_seconds(), 1),
                    message=f"Cảm biến {sensor} của {node} không gửi số liệu từ {last.isoformat(timespec='seconds')}",
                    details={"overdue_s": round(staleness_s(last, ctx.now, interval, self.settings.grace_factor), 1)},
                ),
            )

    def on_status(self, node_id: str, state: str, ts: datetime, ctx: Context) -> None:
        stopped = set(ctx.get("freshness:stopped", []))
        if (state == "stopped") != (node_id in stopped):
            stopped ^= {node_id}
            ctx.put("freshness:stopped", sorted(stopped))
        if state == "online":
            # Back from maintenance or a restart: time its sensors from now, not from before it went away.
            ctx.put("freshness:resumed", {**ctx.get("freshness:resumed", {}), node_id: ts.timestamp()})
        ctx.emit(
            "node_offline",
            node_id,
            ctx.area_of(node_id),
            Condition(
                active=state == "offline",
                severity=Severity.MAJOR,
                message=f"Trạm {node_id}: {state} lúc {ts.isoformat(timespec='seconds')}",
                details={"state": state},
            ),
            ts,
        )
