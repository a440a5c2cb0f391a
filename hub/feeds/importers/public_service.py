"""One-stop public-service statistics → ``public_service`` points with the QĐ 766 rates."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Literal

from hub.feeds import rates
from hub.feeds.importers.base import (
    FEED_KINDS,
    FeedKind,
    ImportContext,
    Rejection,
    SourceConfig,
    merge_by_unit,
    unit_tags,
)
from hub.feeds.periods import local_midnight_ms
from hub.feeds.rows import PublicServiceRow
from hub.feeds.units import Unit
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


def _satisfaction(row: PublicServiceRow, counts: rates.DossierCounts) -> list[tuple[float, int]]:
    return [(row.satisfaction_pct, rates.to_process(counts))] if row.satisfaction_pct is not None else []


def _key(unit: Unit, row: PublicServiceRow) -> tuple:
    return (unit.code, row.period_type.value, row.start)


def _new_item(unit: Unit, number: int, row: PublicServiceRow) -> ServiceItem:
    counts = _counts(row)
    sat = _satisfaction(row, counts)
    return ServiceItem(unit_tags(unit), row.period_type.value, row.start, counts, sat, [(number, row.admin_code)])


def _add_row(item: ServiceItem, unit: Unit, number: int, row: PublicServiceRow) -> Rejection | None:
    first = next((n for n, code in item.rows if code == row.admin_code), None)
    if first is not None:
        return Rejection(number, f"duplicate of row {first} (same unit and period)")
    # Dossier counts of units merged in 2025 add up; the rates are recomputed from the sums.
    counts = _counts(row)
    item.counts = _add(item.counts, counts)
    item.satisfaction += _satisfaction(row, counts)
    item.rows.append((number, row.admin_code))
    return None


@FEED_KINDS.register("public_service", PublicServiceSource)
class PublicService(FeedKind):
    row_model = PublicServiceRow

    def check(self, rows: list[tuple[int, PublicServiceRow]], ctx: ImportContext) -> tuple[list, list[Rejection]]:
        return merge_by_unit(rows, ctx.units, _key, _new_item, _add_row)

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
