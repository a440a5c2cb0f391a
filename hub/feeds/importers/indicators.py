"""Socio-economic indicators → ``admin_indicator`` points, with period-over-period change and anomaly flags."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from hub.feeds.anomaly import anomaly_reason, change_pct
from hub.feeds.importers.base import (
    FEED_KINDS,
    FeedKind,
    ImportContext,
    Rejection,
    SourceConfig,
    merge_by_unit,
    unit_tags,
)
from hub.feeds.indicators import info
from hub.feeds.periods import day_of_ms, local_midnight_ms, previous_start
from hub.feeds.rows import IndicatorRow
from hub.feeds.sink import quote
from hub.feeds.units import Unit
from hub.store.line_protocol import line

MEASUREMENT = "admin_indicator"
_QUERY_CHUNK = 40  # indicators per history query, to keep the InfluxQL short


class IndicatorSource(SourceConfig):
    type: Literal["indicators"]


@dataclass
class IndicatorItem:
    unit_tags: dict[str, str]
    indicator: str
    period_type: str
    status: str
    start: date
    value: float
    plan: float | None
    unit: str
    rows: list[tuple[int, str]] = field(default_factory=list)  # (row, code as written) merged into this item
    conflict: bool = False  # parts of a merged unit given for a non-additive indicator: every row is refused

    @property
    def series(self) -> tuple[str, str, str]:
        return (self.unit_tags["admin_code"], self.indicator, self.period_type)


def _key(unit: Unit, row: IndicatorRow) -> tuple:
    return (unit.code, row.indicator, row.period_type.value, row.status, row.start)


def _new_item(unit: Unit, number: int, row: IndicatorRow) -> IndicatorItem:
    cat = info(row.indicator)
    return IndicatorItem(
        unit_tags(unit),
        row.indicator,
        row.period_type.value,
        row.status,
        row.start,
        row.value,
        row.plan,
        row.unit or cat.unit,
        [(number, row.admin_code)],
    )


def _add_row(item: IndicatorItem, unit: Unit, number: int, row: IndicatorRow) -> Rejection | None:
    # Any earlier row with the same code, not only the first: A, B, B must not add B twice.
    same = next((n for n, code in item.rows if code == row.admin_code), None)
    if same is not None:
        return Rejection(number, f"duplicate of row {same} (same unit, indicator and period)")
    item.rows.append((number, row.admin_code))
    if not info(row.indicator).additive:
        # Refused whole in check(): keeping the first part would let the file's order pick the merged unit's value.
        item.conflict = True
        return None
    # Units merged in 2025 report their old parts separately: the new unit's value is their sum.
    item.value += row.value
    item.plan = None if item.plan is None or row.plan is None else item.plan + row.plan
    return None


def _refuse_parts(item: IndicatorItem) -> list[Rejection]:
    parts = ", ".join(f"{code} (row {n})" for n, code in item.rows)
    target = item.unit_tags["admin_code"]
    return [
        Rejection(
            n,
            f"admin_code: {parts} all map to {target}, and {item.indicator} is not additive: no part's value is "
            f"{target}'s and they cannot be summed; report {target}'s own figure under {target}",
        )
        for n, _ in item.rows
    ]


@FEED_KINDS.register("indicators", IndicatorSource)
class Indicators(FeedKind):
    row_model = IndicatorRow

    def check(self, rows: list[tuple[int, IndicatorRow]], ctx: ImportContext) -> tuple[list, list[Rejection]]:
        items, rejected = merge_by_unit(rows, ctx.units, _key, _new_item, _add_row)
        for it in items:
            if it.conflict:
                rejected.extend(_refuse_parts(it))
        return [it for it in items if not it.conflict], rejected

    def commit(self, items: list[IndicatorItem], ctx: ImportContext) -> int:
        history = self._history(items, ctx)
        # Values of this import join (and override) the history, official over preliminary, so a file of 12
        # months gets its own month-on-month changes.
        for it in sorted(items, key=lambda i: i.status == "official"):
            history[it.series][it.start] = it.value
        lines = []
        for it in sorted(items, key=lambda i: (i.series, i.start)):
            series = history[it.series]
            past = [series[d] for d in sorted(series) if d < it.start]
            prev = series.get(previous_start(it.period_type, it.start))
            cat = info(it.indicator)
            reason = anomaly_reason(it.value, it.plan, cat.plan_kind, cat.direction, past, ctx.rules)
            fields: dict[str, float | int | str | bool] = {"value": float(it.value), "unit": it.unit}
            if it.plan is not None:
                fields["plan"] = float(it.plan)
            change = change_pct(it.value, prev)
            if change is not None:
                fields["change_pct"] = round(change, 6)
            fields["anomaly"] = int(reason is not None)
            if reason:
                fields["anomaly_reason"] = reason
            tags = {
                **it.unit_tags,
                "indicator": it.indicator,
                "period_type": it.period_type,
                "status": it.status,
            }
            lines.append(line(MEASUREMENT, tags, fields, local_midnight_ms(it.start)))
        if ctx.sink is not None and not ctx.dry_run:
            ctx.sink.write(lines)
        return len(lines)

    def _history(self, items: list[IndicatorItem], ctx: ImportContext) -> dict[tuple, dict[date, float]]:
        """Earlier values of the same series from InfluxDB (official preferred over preliminary)."""
        history: dict[tuple, dict[date, float]] = defaultdict(dict)
        if ctx.sink is None or not items:
            return history
        by_type: dict[str, set[str]] = defaultdict(set)
        earliest: dict[str, date] = {}
        for it in items:
            by_type[it.period_type].add(it.indicator)
            start = it.start
            for _ in range(ctx.rules.mad_window + 1):
                start = previous_start(it.period_type, start)
            earliest[it.period_type] = min(earliest.get(it.period_type, start), start)
        latest = local_midnight_ms(max(it.start for it in items))
        codes = {it.unit_tags["admin_code"] for it in items}
        for period_type, indicators in by_type.items():
            names = sorted(indicators)
            for i in range(0, len(names), _QUERY_CHUNK):
                chunk = " OR ".join(f'"indicator" = {quote(n)}' for n in names[i : i + _QUERY_CHUNK])
                q = (
                    f'SELECT "value" FROM "{MEASUREMENT}" WHERE ({chunk}) AND "period_type" = {quote(period_type)} '
                    f"AND time >= {local_midnight_ms(earliest[period_type])}ms AND time < {latest}ms "
                    'GROUP BY "admin_code", "indicator", "status"'
                )
                rows = sorted(ctx.sink.query(q), key=lambda r: r.get("status") != "official")
                for r in rows:
                    if r.get("admin_code") in codes and r.get("value") is not None:
                        key = (r["admin_code"], r["indicator"], period_type)
                        history[key].setdefault(day_of_ms(int(r["time"])), float(r["value"]))
        return history
