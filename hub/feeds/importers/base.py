"""What every feed kind implements, what it is given, and the registry that names the kinds."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from hub.feeds.anomaly import AnomalyRules
from hub.feeds.sink import InfluxSink
from hub.feeds.store import FeedState
from hub.feeds.units import AdminUnits, Unit, UnitError
from plumbing.plugins import Registry


@dataclass(frozen=True, slots=True)
class Rejection:
    row: int
    reason: str
    raw: dict[str, Any] | None = None


@dataclass
class ImportContext:
    """What an import needs: the unit reference, thresholds, InfluxDB (None: a dry run without one) and state."""

    units: AdminUnits
    rules: AnomalyRules
    sink: InfluxSink | None
    state: FeedState | None
    dry_run: bool = False


class SourceConfig(BaseModel):
    """An HTTP endpoint ``iocgw feeds serve`` polls; ``type`` names the feed kind."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="the feed kind (each kind's source narrows it to its own name)")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="names the source in logs and dead letters")
    url: HttpUrl
    every_s: float = Field(3600.0, gt=0, description="poll interval")
    format: Literal["auto", "csv", "json", "xlsx"] = Field("auto", description="auto: from Content-Type or URL")
    timeout_s: float = Field(30.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict, description="e.g. an API key header")
    partial: bool = Field(False, description="import the good rows of a file that has bad ones")


class FeedKind:
    """One feed kind. Lifecycle per import: ``check`` every typed row (no I/O but reads), then ``commit`` the
    accepted items (computes derived figures, writes every point in one go; raises if nothing could be written)."""

    KEY: ClassVar[str]
    row_model: ClassVar[type[BaseModel]]

    def check(self, rows: list[tuple[int, Any]], ctx: ImportContext) -> tuple[list[Any], list[Rejection]]:
        raise NotImplementedError

    def commit(self, items: list[Any], ctx: ImportContext) -> int:
        """Write the items; return the number of points written (or that a dry run would write)."""
        raise NotImplementedError

    def origins(self, items: list[Any]) -> list[tuple[list[str], str]]:
        """Per accepted item: the admin codes of the rows it was made from, as written, and the code it is stored
        under (the import's report counts the remapped and summed ones from this). Default: ``MergedItem``s."""
        return [([code for _, code in it.rows], it.unit_tags["admin_code"]) for it in items]


# A kind's row model (``row_model``, in hub/feeds/rows.py) is the schema of its files, part of the same plugin.
FEED_KINDS: Registry[FeedKind] = Registry("feed kind", docs="docs/feeds.md#file-formats-format-version-1")


def resolve(
    units: AdminUnits, code: str, row: int, raw: dict[str, Any] | None, period_start: date | None = None
) -> Unit | Rejection:
    try:
        return units.resolve(code, period_start)
    except UnitError as exc:
        return Rejection(row, f"admin_code: {exc}", raw)


def unit_tags(unit: Unit) -> dict[str, str]:
    return {"admin_code": unit.code, "province_code": unit.province_code, "level": unit.level.value}


class UnitRow(Protocol):
    """A typed feed row that names its administrative unit and the period it is about."""

    @property
    def admin_code(self) -> str: ...

    @property
    def start(self) -> date: ...


class MergedItem(Protocol):
    """An item of ``merge_by_unit``: the unit it is stored under and the rows (row, code as written) it holds."""

    unit_tags: dict[str, str]
    rows: list[tuple[int, str]]


RowT = TypeVar("RowT", bound=UnitRow)
ItemT = TypeVar("ItemT", bound=MergedItem)


def merge_by_unit(
    rows: list[tuple[int, RowT]],
    units: AdminUnits,
    key: Callable[[Unit, RowT], Hashable],
    new: Callable[[Unit, int, RowT], ItemT],
    add: Callable[[ItemT, Unit, int, RowT], Rejection | None],
) -> tuple[list[ItemT], list[Rejection]]:
    """The rows as items, one per ``key`` of their current unit, and the rows rejected, in file order.

    The first row of a key makes its item (``new``); each later one is ``add``-ed to it, or refused with the
    Rejection ``add`` returns. Units merged in 2025 report their old parts as separate rows, so rows of different
    codes can share the new unit's item.
    """
    items: dict[Hashable, ItemT] = {}
    rejected: list[Rejection] = []
    for number, row in rows:
        unit = resolve(units, row.admin_code, number, None, row.start)
        if isinstance(unit, Rejection):
            rejected.append(unit)
            continue
        k = key(unit, row)
        item = items.get(k)
        if item is None:
            items[k] = new(unit, number, row)
            continue
        refused = add(item, unit, number, row)
        if refused is not None:
            rejected.append(refused)
    return list(items.values()), rejected
