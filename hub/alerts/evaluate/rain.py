"""Heavy rain (QĐ 18/2021/QĐ-TTg Điều 44): rolling 12 h / 24 h sums and days of heavy rain per gauge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.alerts.alarm import Condition
from hub.alerts.config import RainGauge
from hub.alerts.evaluate.base import Context, Evaluator, Observation, ms
from hub.alerts.rules.heavy_rain import RainBands, daily_totals, heavy_rain_days, heavy_rain_level, rolling_sum
from hub.alerts.rules.severity import Severity

SEVERITY = {1: Severity.WARNING, 2: Severity.MINOR, 3: Severity.MAJOR, 4: Severity.CRITICAL, 5: Severity.CRITICAL}
KEEP = timedelta(days=7)  # the longest duration class the bands look at, plus a day


class RainEvaluator(Evaluator):
    rule = "heavy_rain"

    def __init__(self, gauges: list[RainGauge], bands: RainBands) -> None:
        self.by_sensor = {(g.node_id, g.sensor_id): g for g in gauges}
        self.bands = bands

    def sensors(self) -> set[tuple[str, str]]:
        return set(self.by_sensor)

    def on_observation(self, obs: Observation, ctx: Context) -> None:
        gauge = self.by_sensor.get((obs.node_id, obs.sensor_id))
        if gauge is None:
            return
        key = f"rain:{gauge.gauge_id}"
        # Keyed by timestamp: a replayed reading overwrites itself instead of being counted twice.
        inc: dict[str, float] = ctx.get(key, {})
        t = ms(obs.ts)
        horizon = t - KEEP / timedelta(milliseconds=1)
        inc = {k: v for k, v in inc.items() if int(k) > horizon}
        inc[str(t)] = max(0.0, obs.value)
        ctx.put(key, inc)
        series = sorted((datetime.fromtimestamp(int(k) / 1000, UTC), v) for k, v in inc.items())
        end = max(obs.ts, series[-1][0])
        acc12 = rolling_sum(series, end, timedelta(hours=12))
        acc24 = rolling_sum(series, end, timedelta(hours=24))
        days = heavy_rain_days(daily_totals(series, end, 6), self.bands)
        level = heavy_rain_level(acc12, acc24, days, self.bands)
        area = gauge.area or ctx.area_of(obs.node_id)
        ctx.emit(
            self.rule,
            gauge.gauge_id,
            area,
            Condition(
                active=level >= 1,
                severity=SEVERITY.get(level, Severity.INFO),
                level=level,
                value=round(acc24, 1),
                message=f"Mưa lớn tại {gauge.gauge_id}: {acc12:.0f} mm/12 h, {acc24:.0f} mm/24 h, cấp {level}",
                details={"acc_12h_mm": round(acc12, 1), "acc_24h_mm": round(acc24, 1), "days_heavy": days},
            ),
            obs.ts,
        )
        ctx.point(
            "rain_accumulation",
            {"gauge_id": gauge.gauge_id, "area": area or ""},
            {"acc_12h_mm": acc12, "acc_24h_mm": acc24, "level": level},
            obs.ts,
        )
        ctx.hazard(area, f"rain:{gauge.gauge_id}", level)
