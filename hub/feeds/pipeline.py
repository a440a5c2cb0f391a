"""One import: parse every row, check every unit, then write all the points in one go (or, with ``partial``, the
good rows), record the rejected rows as dead letters, and report the counts."""

from __future__ import annotations

import http.client
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hub.feeds.formats import FeedDocument, FeedFileError
from hub.feeds.importers import FEED_KINDS, ImportContext, Rejection
from hub.feeds.rows import parse_row
from hub.feeds.sink import FeedWriteError
from hub.feeds.store import DeadLetter

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    source: str
    kind: str | None
    format_version: int | None
    rows: int = 0
    accepted: int = 0
    points: int = 0
    committed: bool = False
    rejections: list[Rejection] = field(default_factory=list)
    error: str | None = None  # the whole file failed (envelope, InfluxDB down); None when it was read
    # Accepted rows whose retired code was mapped to its successor: (code as written, code stored) -> rows.
    remapped: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Values made by adding up rows of several codes (parts of a merged unit): (codes, code stored) -> values.
    summed: Counter[tuple[tuple[str, ...], str]] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.rejections

    def summary(self) -> str:
        what = f"{self.source}: {self.kind or '?'}"
        if self.error:
            return f"{what}: FAILED: {self.error}; {self.rows} rows read"
        verdict = "imported" if self.committed else "NOT imported"
        out = (
            f"{what}: {verdict}; {self.rows} rows, {self.accepted} accepted, {self.rejected} rejected, "
            f"{self.points} points"
        )
        if self.remapped:
            out += "; remapped " + ", ".join(
                f"{old}->{new} ({_plural(n, 'row')})" for (old, new), n in sorted(self.remapped.items())
            )
        if self.summed:
            out += "; summed " + ", ".join(
                f"{'+'.join(codes)}->{new} ({_plural(n, 'value')})" for (codes, new), n in sorted(self.summed.items())
            )
        return out

    def count_origins(self, origins: list[tuple[list[str], str]]) -> None:
        for codes, stored in origins:
            for code in codes:
                if code != stored:
                    self.remapped[(code, stored)] += 1
            if len(set(codes)) > 1:
                self.summed[(tuple(sorted(set(codes))), stored)] += 1


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def pick_kind(doc: FeedDocument, requested: str) -> str:
    if requested != "auto" and doc.kind and doc.kind != requested:
        raise FeedFileError(f"the file says kind={doc.kind} but --kind {requested} was asked for")
    kind = doc.kind if requested == "auto" else requested
    if not kind:
        raise FeedFileError("the file does not say its kind (kind=... in the envelope): pass --kind")
    if kind not in FEED_KINDS.names():
        raise FeedFileError(f"unknown kind {kind!r}; known: {', '.join(FEED_KINDS.names())}")
    return kind


def run_import(doc: FeedDocument, ctx: ImportContext, kind_name: str = "auto", partial: bool = False) -> ImportReport:
    """Never raises for bad data or a store that is down: the report says what happened."""
    report = ImportReport(doc.source, doc.kind, doc.format_version, rows=len(doc.records))
    raw_by_row: dict[int, dict[str, Any]] = {}
    try:
        report.kind = kind_name = pick_kind(doc, kind_name)
        kind = FEED_KINDS.plugin(kind_name)()
        typed: list[tuple[int, Any]] = []
        for number, record in doc.records:
            raw_by_row[number] = record
            parsed = parse_row(kind.row_model, record)
            if isinstance(parsed, str):
                report.rejections.append(Rejection(number, parsed))
            else:
                typed.append((number, parsed))
        items, rejected = kind.check(typed, ctx)
        report.rejections.extend(rejected)
        report.rejections.sort(key=lambda r: r.row)
        rejected_rows = {r.row for r in report.rejections}
        if report.rejections and not partial:
            log.warning(
                "%s: %d bad rows, nothing imported (use partial to take the good ones)", doc.source, report.rejected
            )
        elif items:
            report.points = kind.commit(items, ctx)
            report.committed = not ctx.dry_run
            report.accepted = report.rows - len(rejected_rows)
            report.count_origins(kind.origins(items))
        else:
            report.committed = not ctx.dry_run
    except FeedFileError as exc:
        report.error = str(exc)
    except (FeedWriteError, OSError, http.client.HTTPException, RuntimeError) as exc:
        report.error = f"writing failed, nothing imported: {exc}"
        report.points = 0
    if not ctx.dry_run and ctx.state is not None:
        dead = [DeadLetter(doc.source, report.kind, r.row, r.reason, raw_by_row.get(r.row)) for r in report.rejections]
        ctx.state.record_import(
            doc.source,
            report.kind,
            doc.format_version,
            (report.rows, report.accepted, report.rejected, report.points),
            report.committed,
            report.error,
            dead,
        )
    return report


def failed_read(source: str, error: str, ctx: ImportContext, rows: int = 0) -> ImportReport:
    """A file that could not be read (``rows``: the records read before the error): logged as a failed import."""
    report = ImportReport(source, None, None, rows=rows, error=error)
    if not ctx.dry_run and ctx.state is not None:
        ctx.state.record_import(source, None, None, (rows, 0, 0, 0), False, error, [])
    return report
