"""Heavy rain (QĐ 18/2021/QĐ-TTg Điều 44): rolling 12 h / 24 h sums and days of heavy rain per gauge."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

from hub.alerts.alarm import Condition
from hub.alerts.config import RainGauge
from hub.alerts.evaluate.base import Context, Evaluator, Observation, ms
from hub.alerts.rules.heavy_rain import RainBands, heavy_rain_days, heavy_rain_level
from hub.alerts.rules.severity import Severity

SEVERITY = {1: Severity.WARNING, 2: Severity.MINOR, 3: Severity.MAJOR, 4: Severity.CRITICAL, 5: Severity.CRITICAL}
HOUR_MS = 3_600_000
KEEP_MS = 7 * 24 * HOUR_MS  # the longest duration class the bands look at, plus a day


class RainEvaluator(Evaluator):
    rule = "heavy_rain"

    def __init__(self, gauges: list[RainGauge], bands: RainBands, names: Mapping[str, str] | None = None) -> None:
        """``names``: node id -> the node's name in the registry. The message calls a gauge after its node, as an
        officer knows the place ("Mưa lớn tại Trạm Kim Long"), and by its gauge id only when the node has no name."""
        self.by_sensor = {(g.node_id, g.sensor_id): g for g in gauges}
        self.bands = bands
        self.names = dict(names or {})

    def place(self, gauge: RainGauge) -> str:
        return self.names.get(gauge.node_id) or gauge.gauge_id

    def sensors(self) -> set[tuple[str, str]]:
        return set(self.by_sensor)

    def on_observation(self, obs: Observation, ctx: Context) -> None:
        gauge = self.by_sensor.get((obs.node_id, obs.sensor_id))
        if gauge is None:
            return
        key = f"rain:{gauge.gauge_id}"
        # Sorted parallel lists keyed by timestamp: a replayed reading overwrites itself instead of being counted
        # twice, and window sums are two bisections and a slice, not a pass over the week (replays and backlogs
        # bring thousands of readings at once).
        st = ctx.get(key, {"t": [], "v": []})
        times: list[int] = st["t"]
        values: list[float] = st["v"]
        t = ms(obs.ts)
        i = bisect.bisect_left(times, t)
        if i < len(times) and times[i] == t:
            values[i] = max(0.0, obs.value)
        else:
            times.insert(i, t)
            values.insert(i, max(0.0, obs.value))
        cut = bisect.bisect_right(times, t - KEEP_MS)
        del times[:cut], values[:cut]
        ctx.put(key, {"t": times, "v": values})
        end = max(t, times[-1])

        def window(span_ms: int, until: int = end) -> float:
            return math.fsum(values[bisect.bisect_right(times, until - span_ms) : bisect.bisect_right(times, until)])

        acc12 = window(12 * HOUR_MS)
        acc24 = window(24 * HOUR_MS)
        days = heavy_rain_days([window(24 * HOUR_MS, end - k * 24 * HOUR_MS) for k in range(5, -1, -1)], self.bands)
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
                message=f"Mưa lớn tại {self.place(gauge)}: {acc12:.0f} mm/12 h, {acc24:.0f} mm/24 h, cấp {level}",
                details={"acc_12h_mm": round(acc12, 1), "acc_24h_mm": round(acc24, 1), "days_heavy": days},
            ),
            obs.ts,
        )
        ctx.point(
            "rain_accumulation",
            {"gauge_id": gauge.gauge_id, "area": area or ""},
            {"acc_12h_mm": acc12, "acc_24h_mm": acc24, "level": level},
            obs.ts,
            obs.node_id,
        )
        ctx.hazard(area, f"rain:{gauge.gauge_id}", level)
