"""One-stop public-service statistics → ``public_service`` points with the QĐ 766 rates."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Literal

from hub.feeds import rates
from hub.feeds.importers.base import FEED_KINDS, FeedKind, ImportContext, Rejection, SourceConfig, resolve, unit_tags
from hub.feeds.periods import local_midnight_ms
from hub.feeds.rows import PublicServiceRow
from hub.store.line_protocol import line

MEASUREMENT = "public_service"


class PublicServiceSource(SourceConfig):
    type: Literal["public_service"]


@dataclass
class ServiceItem:
    unit_tags: dict[str, str]
    period_type: str
    start: date
    counts: rates.DossierCounts
    satisfaction: list[tuple[float, int]]  # (satisfaction %, weight = dossiers to process) per merged row
    rows: list[tuple[int, str]] = field(default_factory=list)


def _counts(row: PublicServiceRow) -> rates.DossierCounts:
    return rates.DossierCounts(
        received=row.received,
        carried_over=row.carried_over,
        resolved_early=row.resolved_early,
        resolved_on_time=row.resolved_on_time,
        resolved_late=row.resolved_late,
        in_progress_on_time=row.in_progress_on_time,
        in_progress_late=row.in_progress_late,
        received_online=row.received_online,
    )


def _add(a: rates.DossierCounts, b: rates.DossierCounts) -> rates.DossierCounts:
    summed = {f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(a) if f.name != "received_online"}
    online = None if a.received_online is None or b.received_online is None else a.received_online + b.received_online
    return replace(a, **summed, received_online=online)


@FEED_KINDS.register("public_service", PublicServiceSource)
class PublicService(FeedKind):
    row_model = PublicServiceRow

    def check(self, rows: list[tuple[int, PublicServiceRow]], ctx: ImportContext) -> tuple[list, list[Rejection]]:
        items: dict[tuple, ServiceItem] = {}
        rejected: list[Rejection] = []
        for number, row in rows:
            unit = resolve(ctx.units, row.admin_code, number, None)
            if isinstance(unit, Rejection):
                rejected.append(unit)
                continue
            key = (unit.code, row.period_type.value, row.start)
            counts = _counts(row)
            sat = [(row.satisfaction_pct, rates.to_process(counts))] if row.satisfaction_pct is not None else []
            item = items.get(key)
            if item is None:
                items[key] = ServiceItem(unit_tags(unit), row.period_type.value, row.start, counts, sat)
                items[key].rows.append((number, row.admin_code))
            elif any(code == row.admin_code for _, code in item.rows):
                first = next(n for n, code in item.rows if code == row.admin_code)
                rejected.append(Rejection(number, f"duplicate of row {first} (same unit and period)"))
            else:
                # Dossier counts of units merged in 2025 add up; the rates are recomputed from the sums.
                item.counts = _add(item.counts, counts)
                item.satisfaction += sat
                item.rows.append((number, row.admin_code))
        return list(items.values()), rejected

    def commit(self, items: list[ServiceItem], ctx: ImportContext) -> int:
        lines = [
            line(
                MEASUREMENT,
                {**it.unit_tags, "period_type": it.period_type},
                point_fields(it),
                local_midnight_ms(it.start),
            )
            for it in items
        ]
        if ctx.sink is not None and not ctx.dry_run:
            ctx.sink.write(lines)
        return len(lines)


def point_fields(it: ServiceItem) -> dict[str, float | int | str | bool]:
    c = it.counts
    out: dict[str, float | int | str | bool] = {
        "received": float(c.received),
        "carried_over": float(c.carried_over),
        "resolved_on_time": float(c.resolved_early + c.resolved_on_time),
        "resolved_late": float(c.resolved_late),
        "in_progress_on_time": float(c.in_progress_on_time),
        "in_progress_late": float(c.in_progress_late),
        "to_process": float(rates.to_process(c)),
        "late_rate_pct": rates.late_rate_pct(c),
        "on_time_rate_pct": rates.on_time_rate_pct(c),
    }
    online = rates.online_rate_pct(c)
    if online is not None:
        out["online_rate_pct"] = online
    weight = sum(w for _, w in it.satisfaction)
    if it.satisfaction:
        out["satisfaction_pct"] = (
            sum(p * w for p, w in it.satisfaction) / weight
            if weight
            else sum(p for p, _ in it.satisfaction) / len(it.satisfaction)
        )
    return out
