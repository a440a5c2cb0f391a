"""Threshold overrides made through the operator API: stored and audited in alerts.db, applied over the rule files.

In cluster mode the hubs share them in PostgreSQL (hub/alerts/pg_threshold_store.py, the same ThresholdStoreLike);
a hub catches up with another hub's change through ``RuleManager.refresh`` (the store's generation tells it is behind).

The files stay the reference hydrology staff edit and review; an override replaces one whole table entry (a flood
station, a reservoir) until it is reverted, and survives restarts and file reloads. Every change is validated with
the same pydantic model the file loader uses, so the API can never put into the engine what a file could not.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from hub.alerts.config import RuleTables
from hub.alerts.rules.dam_safety import Reservoir, ReservoirTable
from hub.alerts.rules.flood_levels import FloodStation, FloodStationTable
from plumbing.sqlite import open_db, transaction

log = logging.getLogger(__name__)

ThresholdKind = Literal["flood", "reservoir"]

COLUMNS = "kind, item_id, body, version, updated_by, updated_at"
SCHEMA = [
    # body NULL: reverted to the file. The row stays so that versions keep growing across a revert.
    """CREATE TABLE IF NOT EXISTS threshold_overrides (
        kind TEXT NOT NULL, item_id TEXT NOT NULL, body TEXT, version INTEGER NOT NULL,
        updated_by TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (kind, item_id))""",
    """CREATE TABLE IF NOT EXISTS threshold_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
        kind TEXT, item_id TEXT, before TEXT, after TEXT, comment TEXT)""",
]


class ThresholdError(ValueError):
    """A change that cannot be applied; nothing was stored."""


class UnknownItem(ThresholdError):
    """No table entry of that kind and id in the rule files."""


class VersionConflict(ThresholdError):
    """The entry changed since the caller read it."""


class Override(BaseModel):
    """One stored override (or its revert, ``body`` None)."""

    model_config = ConfigDict(extra="forbid")

    kind: ThresholdKind
    item_id: str
    body: dict[str, Any] | None = Field(description="The whole table entry that replaces the file's; null: reverted")
    version: int = Field(description="Grows with every change of this entry, reverts included")
    updated_by: str
    updated_at: AwareDatetime


class AuditEntry(BaseModel):
    """Who changed which thresholds, when, why, from what to what."""

    model_config = ConfigDict(extra="forbid")

    id: int
    at: AwareDatetime
    who: str = Field(description="Name of the API token that made the change")
    action: Literal["change", "revert", "reload"]
    kind: ThresholdKind | None = None
    item_id: str | None = None
    before: dict[str, Any] | None = Field(None, description="The entry in force before (null: none)")
    after: dict[str, Any] | None = Field(None, description="The entry in force after")
    comment: str | None = None


@dataclass(frozen=True)
class Kind:
    """How one kind of override finds and replaces its entries in RuleTables."""

    name: ThresholdKind
    model: type[FloodStation] | type[Reservoir]
    id_field: str

    def items(self, tables: RuleTables) -> list[Any] | None:
        if self.name == "flood":
            return list(tables.flood.stations) if tables.flood is not None else None
        return list(tables.reservoirs.reservoirs) if tables.reservoirs is not None else None

    def replace(self, tables: RuleTables, items: list[Any]) -> RuleTables:
        """The tables with this kind's entries replaced; the table model validates the whole table again."""
        if self.name == "flood":
            assert tables.flood is not None
            return tables.model_copy(update={"flood": FloodStationTable(version=tables.flood.version, stations=items)})
        return tables.model_copy(update={"reservoirs": ReservoirTable(reservoirs=items)})


KINDS: dict[str, Kind] = {
    "flood": Kind("flood", FloodStation, "station_id"),
    "reservoir": Kind("reservoir", Reservoir, "reservoir_id"),
}


def _dump(item: BaseModel | None) -> dict[str, Any] | None:
    return None if item is None else item.model_dump(mode="json")


def apply_overrides(tables: RuleTables, overrides: Iterable[Override]) -> tuple[RuleTables, list[str]]:
    """``tables`` with every override in place, and a line for each override that could not be applied.

    An override whose entry has left the files, or that no longer validates (the model changed), is skipped and
    reported rather than stopping the hub: the file's official value then stands.
    """
    problems: list[str] = []
    by_kind: dict[str, list[Override]] = {}
    for o in overrides:
        if o.body is not None:
            by_kind.setdefault(o.kind, []).append(o)
    for name, group in sorted(by_kind.items()):
        kind = KINDS[name]
        items = kind.items(tables)
        if items is None:
            problems += [f"{name}/{o.item_id}: no {name} table is configured" for o in group]
            continue
        index = {getattr(item, kind.id_field): i for i, item in enumerate(items)}
        for o in group:
            if o.item_id not in index:
                problems.append(f"{name}/{o.item_id}: not in the rule files any more; override not applied")
                continue
            try:
                items[index[o.item_id]] = kind.model.model_validate(o.body)
            except ValidationError as exc:
                problems.append(f"{name}/{o.item_id}: stored override no longer valid: {exc.errors()[0]['msg']}")
        tables = kind.replace(tables, items)
    for p in problems:
        log.error("threshold override: %s", p)
    return tables, problems


class ThresholdStoreLike(Protocol):
    """What RuleManager uses of a store: ThresholdStore (SQLite, one hub) and PgThresholdStore (cluster mode,
    hub/alerts/pg_threshold_store.py) both are one. Used under RuleManager's lock only."""

    def overrides(self) -> list[Override]: ...
    def get(self, kind: str, item_id: str) -> Override | None: ...
    def generation(self) -> int: ...
    def put(
        self,
        kind: ThresholdKind,
        item_id: str,
        body: dict[str, Any] | None,
        *,
        who: str,
        comment: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        expected_version: int | None = None,
        now: datetime | None = None,
    ) -> Override: ...
    def record(self, action: Literal["reload"], who: str, comment: str | None = None) -> None: ...
    def audit(self, *, kind: str | None = None, item_id: str | None = None, limit: int = 100) -> list[AuditEntry]: ...
    def close(self) -> None: ...


class ThresholdStore:
    """Overrides and their audit trail in alerts.db; one connection, used under RuleManager's lock."""

    def __init__(self, path: Path | str) -> None:
        self.db = open_db(path, synchronous="NORMAL")
        for stmt in SCHEMA:
            self.db.conn.execute(stmt)

    def overrides(self) -> list[Override]:
        rows = self.db.conn.execute(f"SELECT {COLUMNS} FROM threshold_overrides ORDER BY kind, item_id").fetchall()
        return [_override(r) for r in rows]

    def get(self, kind: str, item_id: str) -> Override | None:
        row = self.db.conn.execute(
            f"SELECT {COLUMNS} FROM threshold_overrides WHERE kind = ? AND item_id = ?",
            (kind, item_id),
        ).fetchone()
        return None if row is None else _override(row)

    def generation(self) -> int:
        """Grows with every put: each raises one entry's version by one, and entries are never deleted."""
        return int(self.db.conn.execute("SELECT coalesce(sum(version), 0) FROM threshold_overrides").fetchone()[0])

    def put(
        self,
        kind: ThresholdKind,
        item_id: str,
        body: dict[str, Any] | None,
        *,
        who: str,
        comment: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        expected_version: int | None = None,
        now: datetime | None = None,
    ) -> Override:
        """Store (or revert, ``body`` None) one override and its audit entry in one transaction."""
        at = (now or datetime.now(UTC)).isoformat()
        with transaction(self.db) as c:
            row = c.execute(
                "SELECT version FROM threshold_overrides WHERE kind = ? AND item_id = ?", (kind, item_id)
            ).fetchone()
            version = int(row[0]) if row else 0
            if expected_version is not None and expected_version != version:
                raise VersionConflict(f"{kind}/{item_id} is at version {version}, not {expected_version}")
            text = None if body is None else json.dumps(body, ensure_ascii=False)
            c.execute(
                "INSERT INTO threshold_overrides (kind, item_id, body, version, updated_by, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(kind, item_id) DO UPDATE SET body = excluded.body, "
                "version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (kind, item_id, text, version + 1, who, at),
            )
            self._audit(c, at, who, "change" if body is not None else "revert", kind, item_id, before, after, comment)
        result = self.get(kind, item_id)
        assert result is not None
        return result

    def record(self, action: Literal["reload"], who: str, comment: str | None = None) -> None:
        """An audit entry for an event that changes no override (a reload of the files)."""
        with transaction(self.db) as c:
            self._audit(c, datetime.now(UTC).isoformat(), who, action, None, None, None, None, comment)

    @staticmethod
    def _audit(
        c: sqlite3.Connection,
        at: str,
        who: str,
        action: str,
        kind: str | None,
        item_id: str | None,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        comment: str | None,
    ) -> None:
        c.execute(
            "INSERT INTO threshold_audit (at, who, action, kind, item_id, before, after, comment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                who,
                action,
                kind,
                item_id,
                None if before is None else json.dumps(before, ensure_ascii=False),
                None if after is None else json.dumps(after, ensure_ascii=False),
                comment,
            ),
        )

    def audit(self, *, kind: str | None = None, item_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        where, args = [], []
        for column, value in (("kind", kind), ("item_id", item_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT id, at, who, action, kind, item_id, before, after, comment FROM threshold_audit"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return [
            AuditEntry(
                id=r[0],
                at=datetime.fromisoformat(r[1]),
                who=r[2],
                action=r[3],
                kind=r[4],
                item_id=r[5],
                before=None if r[6] is None else json.loads(r[6]),
                after=None if r[7] is None else json.loads(r[7]),
                comment=r[8],
            )
            for r in self.db.conn.execute(sql, (*args, limit))
        ]

    def close(self) -> None:
        self.db.conn.close()


def _override(row: tuple[Any, ...]) -> Override:
    return Override(
        kind=row[0],
        item_id=row[1],
        body=None if row[2] is None else json.loads(row[2]),
        version=int(row[3]),
        updated_by=row[4],
        updated_at=datetime.fromisoformat(row[5]),
    )


class ItemView(BaseModel):
    """One entry as the engine runs it, what the file says, and its override's version."""

    model_config = ConfigDict(extra="forbid")

    kind: ThresholdKind
    item_id: str
    item: dict[str, Any] = Field(description="The entry in force (the override if there is one, else the file's)")
    file_item: dict[str, Any] = Field(description="The entry as the rule file has it")
    overridden: bool
    version: int = Field(description="Send it back as expected_version to change this entry safely; 0: never changed")
    updated_by: str | None = None
    updated_at: AwareDatetime | None = None


class RuleManager:
    """The rule tables the engine runs: the files with the stored overrides on top; changes apply at once."""

    def __init__(self, read_files: Callable[[], RuleTables], store: ThresholdStoreLike) -> None:
        self._read_files = read_files
        self.store = store
        # Serialises changes, reloads and refreshes: each one reads the tables in force, then swaps them in.
        self._lock = threading.Lock()
        self._apply: Callable[[RuleTables], None] | None = None
        self.files = read_files()
        self.generation = store.generation()
        self.current, self.problems = apply_overrides(self.files, store.overrides())

    def bind(self, apply: Callable[[RuleTables], None] | None, *, now: bool = False) -> None:
        """Where new tables go, e.g. ``engine.load``; None: nowhere (a hub that stopped leading). ``now``: read the
        store's overrides again and hand the tables to ``apply`` at once, so that a change made before the bind
        (on this hub or another) cannot miss an engine built from older tables."""
        with self._lock:
            self._apply = apply
            if now and apply is not None:
                self._swap(self.files)

    def _swap(self, files: RuleTables) -> None:
        # The generation first: a put between the two reads makes the next refresh apply again, never skip it.
        generation = self.store.generation()
        tables, problems = apply_overrides(files, self.store.overrides())
        if self._apply is not None:
            self._apply(tables)
        self.files, self.current, self.problems = files, tables, problems
        self.generation = generation

    def _catch_up(self) -> bool:
        if self.store.generation() == self.generation:
            return False
        self._swap(self.files)
        return True

    def refresh(self) -> bool:
        """Apply the store's overrides again if they changed since the last apply (another hub of the cluster
        changed one); True if they did. One small query when nothing changed: call it often, or on notification
        (hub.alerts.pg_threshold_store.ThresholdListener). On one hub nothing else writes the store: always False."""
        with self._lock:
            return self._catch_up()

    def reload(self, who: str, comment: str | None = None) -> RuleTables:
        """Re-read the files (ConfigError or ValueError leave the running tables as they were) and apply."""
        with self._lock:
            files = self._read_files()
            self._swap(files)
            self.store.record("reload", who, comment)
            return self.current

    def overrides(self) -> list[Override]:
        with self._lock:
            return self.store.overrides()

    def audit(self, *, kind: str | None = None, item_id: str | None = None, limit: int = 100) -> list[AuditEntry]:
        with self._lock:
            return self.store.audit(kind=kind, item_id=item_id, limit=limit)

    def _find(self, kind: Kind, tables: RuleTables, item_id: str) -> Any:
        items = kind.items(tables)
        if items is None:
            raise UnknownItem(f"no {kind.name} table is configured")
        for item in items:
            if getattr(item, kind.id_field) == item_id:
                return item
        raise UnknownItem(f"no {kind.name} entry {item_id!r} in the rule files")

    def item(self, kind_name: str, item_id: str) -> ItemView:
        kind = KINDS[kind_name]
        with self._lock:
            self._catch_up()
            return self._view(kind, item_id)

    def _view(self, kind: Kind, item_id: str) -> ItemView:
        file_item = self._find(kind, self.files, item_id)
        item = self._find(kind, self.current, item_id)
        o = self.store.get(kind.name, item_id)
        return ItemView(
            kind=kind.name,
            item_id=item_id,
            item=item.model_dump(mode="json"),
            file_item=file_item.model_dump(mode="json"),
            overridden=o is not None and o.body is not None,
            version=o.version if o else 0,
            updated_by=o.updated_by if o else None,
            updated_at=o.updated_at if o else None,
        )

    def change(
        self,
        kind_name: str,
        item: FloodStation | Reservoir,
        *,
        who: str,
        comment: str | None,
        expected_version: int | None = None,
    ) -> ItemView:
        """Replace one entry (already validated as its model); store, audit, then apply to the engine."""
        kind = KINDS[kind_name]
        item_id = getattr(item, kind.id_field)
        with self._lock:
            # Another hub's change since the last apply: the audit's "before" and the table check see it.
            self._catch_up()
            before = self._find(kind, self.current, item_id)
            # The whole table must still validate with the new entry before anything is stored.
            items = [item if getattr(x, kind.id_field) == item_id else x for x in kind.items(self.current) or []]
            try:
                kind.replace(self.current, items)
            except ValidationError as exc:
                raise ThresholdError("; ".join(e["msg"] for e in exc.errors())) from None
            body = item.model_dump(mode="json")
            self.store.put(
                kind.name,
                item_id,
                body,
                who=who,
                comment=comment,
                before=_dump(before),
                after=body,
                expected_version=expected_version,
            )
            self._swap(self.files)
            return self._view(kind, item_id)

    def revert(
        self, kind_name: str, item_id: str, *, who: str, comment: str | None, expected_version: int | None = None
    ) -> ItemView:
        """Drop the override: the file's entry applies again."""
        kind = KINDS[kind_name]
        with self._lock:
            self._catch_up()
            before = self._find(kind, self.current, item_id)
            o = self.store.get(kind.name, item_id)
            if o is None or o.body is None:
                raise UnknownItem(f"{kind.name} entry {item_id!r} has no override to revert")
            after = _dump(self._find(kind, self.files, item_id))
            self.store.put(
                kind.name,
                item_id,
                None,
                who=who,
                comment=comment,
                before=_dump(before),
                after=after,
                expected_version=expected_version,
            )
            self._swap(self.files)
            return self._view(kind, item_id)
