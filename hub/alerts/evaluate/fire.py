"""Forest-fire danger (NĐ 156/2018, TT 25/2019): the Nesterov index per area from 13:00 local weather and rain."""

from __future__ import annotations

from datetime import date, datetime

from hub.alerts.alarm import Condition
from hub.alerts.config import FireArea
from hub.alerts.evaluate.base import Context, Evaluator, Observation
from hub.alerts.rules.base import LOCAL_TZ
from hub.alerts.rules.nesterov import NesterovConfig, NesterovState, daily_term, fire_danger_level, level_name, step
from hub.alerts.rules.severity import Severity

SEVERITY = {3: Severity.MINOR, 4: Severity.MAJOR, 5: Severity.CRITICAL}


class FireEvaluator(Evaluator):
    """Per area and local day: the readings nearest 13:00 and the day's rain. The day is folded into P when the
    next day's first reading arrives; during the day a provisional P (with today's term) drives the alarm, so the
    level rises at 13:00 rather than the next morning."""

    rule = "forest_fire_danger"

    def __init__(self, areas: list[FireArea], settings: dict[str, NesterovConfig]) -> None:
        self.areas = areas
        self.settings = settings
        self.by_sensor: dict[tuple[str, str], list[tuple[FireArea, str]]] = {}
        for a in areas:
            refs = [("t", a.temperature), ("rh", a.humidity)] + ([("rain", a.rain)] if a.rain else [])
            for role, ref in refs:
                self.by_sensor.setdefault((ref.node_id, ref.sensor_id), []).append((a, role))

    def sensors(self) -> set[tuple[str, str]]:
        return set(self.by_sensor)

    def on_observation(self, obs: Observation, ctx: Context) -> None:
        for area, role in self.by_sensor.get((obs.node_id, obs.sensor_id), []):
            self._update(area, role, obs, ctx)

    def _update(self, area: FireArea, role: str, obs: Observation, ctx: Context) -> None:
        cfg = self.settings[area.nesterov]
        key = f"fire:{area.area_id}"
        st = ctx.get(key, {"p": 0.0, "last_day": None, "day": None, "t": None, "rh": None, "rain": 0.0})
        local = obs.ts.astimezone(LOCAL_TZ)
        day = local.date()
        if st["day"] is not None and day.isoformat() < st["day"]:
            return  # a reading from a day already folded in
        if st["day"] is not None and day.isoformat() > st["day"]:
            st = self._fold(st, cfg)
        st["day"] = day.isoformat()
        target = datetime.combine(day, datetime.min.time().replace(hour=13), tzinfo=LOCAL_TZ)
        gap = abs((local - target).total_seconds())
        if role == "rain":
            st["rain"] = st["rain"] + max(0.0, obs.value)
        elif gap <= cfg.reading_tolerance.total_seconds() and (st[role] is None or gap < st[role][0]):
            st[role] = [gap, obs.value]
        ctx.put(key, st)
        p_now = self._provisional(st, cfg)
        level = fire_danger_level(p_now, cfg.bands)
        geo = area.area
        if geo and ctx.fire_levels.get(geo) != level:
            ctx.fire_levels[geo] = level
            ctx.put("engine:fire_levels", ctx.fire_levels)
        ctx.emit(
            self.rule,
            area.area_id,
            geo,
            Condition(
                active=level >= 3,
                severity=SEVERITY.get(level, Severity.INFO),
                level=level,
                value=round(p_now, 1),
                message=f"Cấp dự báo cháy rừng {level_name(level)} tại {area.area_id} (P = {p_now:.0f})",
                details={"p": round(p_now, 1), "province": cfg.province, "source": cfg.source},
            ),
            obs.ts,
        )
        ctx.point("fire_danger", {"area_id": area.area_id, "area": geo or ""}, {"p": p_now, "level": level}, obs.ts)
        ctx.hazard(geo, f"fire:{area.area_id}", None)  # fire danger is not one of the QĐ 18 risk hazards

    @staticmethod
    def _provisional(st: dict, cfg: NesterovConfig) -> float:
        if st["rain"] >= cfg.rain_reset_mm:
            return 0.0
        if st["t"] is None or st["rh"] is None:
            return float(st["p"])
        return float(st["p"]) + daily_term(st["t"][1], st["rh"][1])

    @staticmethod
    def _fold(st: dict, cfg: NesterovConfig) -> dict:
        state = NesterovState(p=st["p"], last_day=date.fromisoformat(st["last_day"]) if st["last_day"] else None)
        day = date.fromisoformat(st["day"])
        if st["t"] is not None and st["rh"] is not None:
            state = step(state, day, st["t"][1], st["rh"][1], st["rain"], cfg)
        elif st["rain"] >= cfg.rain_reset_mm:
            state = NesterovState(p=0.0, last_day=day)
        # A day without a 13:00 reading adds nothing (P reads low) rather than guessing the weather.
        return {"p": state.p, "last_day": day.isoformat(), "day": None, "t": None, "rh": None, "rain": 0.0}
