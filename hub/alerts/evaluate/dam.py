"""Dam and reservoir safety (NĐ 114/2018/NĐ-CP): named levels, rate of rise, inflow vs outflow, instruments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts.alarm import Condition
from hub.alerts.evaluate.base import Context, Evaluator, Observation, ms
from hub.alerts.rules.base import LOCAL_TZ
from hub.alerts.rules.dam_safety import Instrument, Reservoir, ReservoirTable, release_warning_due, reservoir_state
from hub.alerts.rules.flood_levels import rate_of_rise_m_per_h
from hub.alerts.rules.severity import Severity, SeverityThresholds, severity_with_deadband

RATE_WINDOW = timedelta(hours=3)
RELEASE_SHOWN_AFTER_OPENING = timedelta(hours=1)


NAMED_LEVELS = ("dead_level_m", "pre_flood_level_m", "normal_level_m", "design_flood_level_m", "check_flood_level_m")


class DamEvaluator(Evaluator):
    rule = "dam_safety"

    def __init__(self, table: ReservoirTable) -> None:
        self.by_id = {r.reservoir_id: r for r in table.reservoirs}
        self.by_node = {r.node_id: r for r in table.reservoirs if r.node_id}
        self.instruments: dict[tuple[str, str], tuple[Reservoir, Instrument]] = {}
        for r in table.reservoirs:
            for i in r.instruments:
                if i.node_id and i.sensor_id:
                    self.instruments[(i.node_id, i.sensor_id)] = (r, i)

    def sensors(self) -> set[tuple[str, str]]:
        return set(self.instruments)

    def node_quantities(self) -> set[tuple[str, str]]:
        return {(n, q) for n in self.by_node for q in ("reservoir_level", "inflow", "outflow")}

    def on_observation(self, obs: Observation, ctx: Context) -> None:
        pair = self.instruments.get((obs.node_id, obs.sensor_id))
        if pair is not None:
            self._instrument(obs, *pair, ctx)
            return
        reservoir = self.by_node.get(obs.node_id)
        if reservoir is None:
            return
        if obs.quantity == "reservoir_level":
            self._level(obs, reservoir, ctx)
        elif obs.quantity in ("inflow", "outflow"):
            self._flows(obs, reservoir, ctx)

    def on_tick(self, ctx: Context) -> None:
        """Planned spillway releases: from the warning deadline (opening minus the operating procedure's lead
        time) until the gates open, an alarm reminds officers that people downstream must have been warned."""
        for reservoir_id, plan in ctx.get("dam:releases", {}).items():
            r = self.by_id.get(reservoir_id)
            if r is None or r.release is None:
                continue
            opening = datetime.fromisoformat(plan["open"])
            w = release_warning_due(ctx.now, opening, r.release.warning_lead_time)
            active = w.due and ctx.now < opening + RELEASE_SHOWN_AFTER_OPENING and not plan.get("cancelled")
            how = f" ({r.release.signal})" if r.release.signal else ""
            ctx.emit(
                self.rule,
                f"{reservoir_id}/release",
                None,
                Condition(
                    active=active,
                    severity=Severity.MAJOR,
                    value=round(w.seconds_late, 1),
                    message=f"Hồ {r.name} xả lũ lúc {opening.astimezone(LOCAL_TZ):%H:%M %d/%m}: "
                    f"phải cảnh báo hạ du{how} trước {w.deadline.astimezone(LOCAL_TZ):%H:%M}",
                    details={"planned_open": plan["open"], "by": plan.get("by"), "procedure": r.release.procedure},
                ),
            )

    def _level(self, obs: Observation, r: Reservoir, ctx: Context) -> None:
        key = f"dam:{r.reservoir_id}:level"
        st = ctx.get(key, {"last_ms": 0, "samples": {}})
        t = ms(obs.ts)
        samples = {k: v for k, v in st["samples"].items() if int(k) > t - RATE_WINDOW / timedelta(milliseconds=1)}
        samples[str(t)] = obs.value
        ctx.put(key, {"last_ms": max(t, st["last_ms"]), "samples": samples})
        if t < st["last_ms"]:
            return
        series = sorted((datetime.fromtimestamp(int(k) / 1000, UTC), v) for k, v in samples.items())
        rate = rate_of_rise_m_per_h(series, RATE_WINDOW)
        state = reservoir_state(obs.value, r)
        area = ctx.area_of(obs.node_id)
        ctx.emit(
            self.rule,
            f"{r.reservoir_id}/level",
            area,
            Condition(
                active=state.severity >= Severity.WARNING,
                severity=state.severity,
                level=list(type(state.band)).index(state.band),
                value=obs.value,
                message=f"Hồ {r.name}: mực nước {obs.value:.2f} m ({state.band.value})",
                details={"band": state.band.value, "rate_m_per_h": rate, "source": r.source},
            ),
            obs.ts,
        )
        if r.rise_rate_m_per_h is not None and rate is not None:
            sev = self._held(ctx, f"{r.reservoir_id}/rise", rate, r.rise_rate_m_per_h)
            ctx.emit(
                self.rule,
                f"{r.reservoir_id}/rise",
                area,
                Condition(
                    active=sev is not None,
                    severity=sev or Severity.INFO,
                    value=round(rate, 3),
                    message=f"Hồ {r.name}: mực nước lên {rate:.2f} m/h",
                ),
                obs.ts,
            )
        fields: dict[str, float | int | str | bool] = {"level_m": obs.value, "band": state.band.value}
        for name in NAMED_LEVELS:  # the named levels in force, for the dashboard's lines
            value = getattr(r, name)
            if value is not None:
                fields[name] = float(value)
        if rate is not None:
            fields["rate_m_per_h"] = rate
        ctx.point("reservoir_state", {"reservoir_id": r.reservoir_id, "area": area or ""}, fields, obs.ts, obs.node_id)

    def _flows(self, obs: Observation, r: Reservoir, ctx: Context) -> None:
        key = f"dam:{r.reservoir_id}:flows"
        flows = ctx.get(key, {})
        flows[obs.quantity] = obs.value
        ctx.put(key, flows)
        if r.net_inflow_m3s is None or "inflow" not in flows or "outflow" not in flows:
            return
        net = flows["inflow"] - flows["outflow"]
        sev = self._held(ctx, f"{r.reservoir_id}/net_inflow", net, r.net_inflow_m3s)
        ctx.emit(
            self.rule,
            f"{r.reservoir_id}/net_inflow",
            ctx.area_of(obs.node_id),
            Condition(
                active=sev is not None,
                severity=sev or Severity.INFO,
                value=round(net, 2),
                message=f"Hồ {r.name}: lưu lượng đến {flows['inflow']:.0f} m³/s, xả {flows['outflow']:.0f} m³/s",
                details={"inflow_m3s": flows["inflow"], "outflow_m3s": flows["outflow"]},
            ),
            obs.ts,
        )

    @staticmethod
    def _held(ctx: Context, subject: str, value: float, thresholds: SeverityThresholds) -> Severity | None:
        """The severity with the thresholds' deadband applied, remembering the last one per subject."""
        key = f"dam:sev:{subject}"
        previous = ctx.get(key, None)
        sev = severity_with_deadband(value, thresholds, Severity(previous) if previous else None)
        if (sev.value if sev else None) != previous:
            ctx.put(key, sev.value if sev else None)
        return sev

    def _instrument(self, obs: Observation, r: Reservoir, i: Instrument, ctx: Context) -> None:
        sev = self._held(ctx, f"{r.reservoir_id}/{i.instrument_id}", obs.value, i.thresholds)
        ctx.emit(
            self.rule,
            f"{r.reservoir_id}/{i.instrument_id}",
            ctx.area_of(obs.node_id),
            Condition(
                active=sev is not None,
                severity=sev or Severity.INFO,
                value=obs.value,
                message=f"Đập {r.name}: {i.instrument_id} = {obs.value:g} {i.unit}",
            ),
            obs.ts,
        )
