"""Reading feed files (CSV, JSON, XLSX) into raw records with their row numbers; the versioned envelope of each.

CSV and XLSX: the first line (first cell of the first sheet) is the preamble
``# iocgw-feed: kind=indicators; format_version=1``, the second the column header, then one record per line.
JSON: ``{"kind": "indicators", "format_version": 1, "rows": [{...}, ...]}``.
Row numbers are what a person finds in the file: the line (CSV), the sheet row (XLSX), the 1-based index in ``rows``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_VERSIONS = {1}
_PREAMBLE = re.compile(r"^\s*#\s*iocgw-feed\s*:(.*)$", re.IGNORECASE)
MAX_ROWS = 200_000  # one InfluxDB request per import keeps it all-or-nothing; this keeps that request sane


class FeedFileError(Exception):
    """The whole file cannot be read (bad envelope, bad encoding, unsupported version): nothing is imported."""

    def __init__(self, message: str, rows: int = 0) -> None:
        super().__init__(message)
        self.rows = rows  # records read before the error, so that the report counts what was read


@dataclass
class FeedDocument:
    source: str
    fmt: str
    kind: str | None
    format_version: int
    records: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def detect_format(name: str, content_type: str | None = None) -> str:
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct in ("application/json", "text/json"):
        return "json"
    if ct in ("text/csv", "application/csv"):
        return "csv"
    if ct == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        return "xlsx"
    suffix = Path(name.split("?")[0]).suffix.lower().lstrip(".")
    if suffix in ("csv", "json", "xlsx"):
        return suffix
    raise FeedFileError(f"cannot tell the format of {name!r} (use .csv, .json or .xlsx, or a Content-Type)")


def parse_bytes(data: bytes, source: str, fmt: str) -> FeedDocument:
    readers = {"csv": _read_csv, "json": _read_json, "xlsx": _read_xlsx}
    if fmt not in readers:
        raise FeedFileError(f"unknown format {fmt!r}; known: csv, json, xlsx")
    doc = readers[fmt](data, source)
    if len(doc.records) > MAX_ROWS:
        raise FeedFileError(f"{len(doc.records)} rows: split the file (at most {MAX_ROWS} rows per import)")
    return doc


def read_file(path: Path | str) -> FeedDocument:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FeedFileError(f"cannot read: {exc.strerror or exc}") from None
    return parse_bytes(data, str(path), detect_format(path.name))


def _envelope(text: str) -> tuple[str | None, int]:
    m = _PREAMBLE.match(text)
    if not m:
        raise FeedFileError(
            "line 1 must be the preamble '# iocgw-feed: kind=KIND; format_version=N' (see docs/feeds.md)"
        )
    meta: dict[str, str] = {}
    for part in re.split(r"[;,]", m.group(1)):
        if "=" in part:
            key, _, value = part.partition("=")
            meta[key.strip().lower()] = value.strip()
    return meta.get("kind") or None, _version(meta.get("format_version"))


def _version(value: object) -> int:
    if value is None or value == "":
        raise FeedFileError("no format_version: the envelope must say which format version the file follows")
    try:
        version = int(str(value))
    except ValueError:
        raise FeedFileError(f"format_version {value!r} is not a number") from None
    if version not in SUPPORTED_VERSIONS:
        raise FeedFileError(
            f"format_version {version} is not supported (this build reads {sorted(SUPPORTED_VERSIONS)})"
        )
    return version


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedFileError(f"not UTF-8 text (byte {exc.start})") from None


def _read_csv(data: bytes, source: str) -> FeedDocument:
    text = _decode(data)
    first, _, rest = text.partition("\n")
    kind, version = _envelope(first)
    # Strict: a lenient reader lets a quote that is never closed swallow every later line into one cell, and the
    # damage shows up as wrong fields in a wrong number of rows instead of at the quote.
    reader = csv.reader(io.StringIO(rest, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise FeedFileError("line 2 must be the column header") from None
    except csv.Error as exc:
        raise _csv_error(exc, rest, 1, reader.line_num, 0) from None
    _check_header(header, "line 2")
    doc = FeedDocument(source, "csv", kind, version)
    # Lines are counted in ``rest``: +1 gives the line in the file (the reader never saw the preamble).
    start = reader.line_num + 1
    try:
        for cells in reader:
            # The line the record starts on (a quoted cell may span lines).
            line, start = start + 1, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            doc.records.append((line, _record(header, cells)))
    except csv.Error as exc:
        raise _csv_error(exc, rest, start, reader.line_num, len(doc.records)) from None
    return doc


def _csv_error(exc: csv.Error, rest: str, first: int, last: int, rows: int) -> FeedFileError:
    """The error of a record the reader stopped in (lines ``first``..``last`` of ``rest``), at the line to fix: for a
    quote, the line its cell opens on, not the line (often the end of the file) where the reader gave up."""
    lines = io.StringIO(rest, newline="").readlines()[first - 1 : last]
    text = "".join(lines)
    opened, closed = _bad_quote(text)
    if opened is None:
        return FeedFileError(f"line {last + 1}: {exc}", rows)

    def line_of(offset: int) -> int:
        pos = 0
        for n, ln in enumerate(lines):
            pos += len(ln)
            if offset < pos:
                return first + 1 + n
        return last + 1

    at = line_of(opened)
    end = line_of(closed) if closed is not None else None
    if end == at:
        return FeedFileError(
            f"line {at}: text after the closing quote of a quoted cell: a quoted cell ends at its closing quote, and "
            'a quote inside it is written twice ("")',
            rows,
        )
    if end is None:
        what = "is never closed (the cell would run to the end of the file)"
    else:
        what = f"is not closed on that line (the cell would run over lines {at}-{end}, to the next quote)"
    return FeedFileError(
        f'line {at}: unterminated quoted field: the " that opens a cell on line {at} {what}; close the quote, or '
        'write a quote inside a cell twice ("")',
        rows,
    )


def _bad_quote(text: str) -> tuple[int | None, int | None]:
    """Where, in the text of one record a strict reader refused, the offending quoted cell opens, and where the quote
    that ends it is when text follows that quote ((None, None): the error is not about quotes)."""
    opened: int | None = None
    quoted, at_start, i = False, True, 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"':
                if text.startswith('"', i + 1):
                    i += 2
                    continue
                if i + 1 < len(text) and text[i + 1] not in ",\r\n":
                    return opened, i
                quoted = False
            i += 1
            continue
        if ch == '"' and at_start:
            quoted, opened = True, i
        at_start = ch in ",\r\n"
        i += 1
    return (opened, None) if quoted else (None, None)


def _record(header: list[str], cells: list[Any]) -> dict[str, Any]:
    record: dict[str, Any] = dict(zip(header, cells, strict=False))
    if len(cells) > len(header):
        record["__extra_cells__"] = len(cells) - len(header)
    return record


def _check_header(header: list[str], where: str) -> None:
    if not any(header):
        raise FeedFileError(f"{where} must be the column header")
    seen = set()
    for name in header:
        if name in seen:
            raise FeedFileError(f"{where}: column {name!r} appears twice")
        seen.add(name)


def _read_json(data: bytes, source: str) -> FeedDocument:
    try:
        body = json.loads(_decode(data))
    except json.JSONDecodeError as exc:
        raise FeedFileError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(body, dict):
        raise FeedFileError('the JSON document must be an object {"kind", "format_version", "rows"}')
    rows = body.get("rows")
    if not isinstance(rows, list):
        raise FeedFileError('"rows" must be a list of objects')
    doc = FeedDocument(source, "json", body.get("kind") or None, _version(body.get("format_version")))
    for i, row in enumerate(rows, start=1):
        doc.records.append((i, row if isinstance(row, dict) else {"__not_an_object__": type(row).__name__}))
    return doc


def _read_xlsx(data: bytes, source: str) -> FeedDocument:
    import openpyxl  # imported here: only XLSX imports pay for it

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise FeedFileError(f"not a readable XLSX workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        first = next(rows, None)
        kind, version = _envelope(str(first[0]) if first and first[0] is not None else "")
        header_row = next(rows, None)
        if header_row is None:
            raise FeedFileError("sheet row 2 must be the column header")
        header = [str(h).strip() if h is not None else "" for h in header_row]
        while header and not header[-1]:
            header.pop()
        _check_header(header, "sheet row 2")
        doc = FeedDocument(source, "xlsx", kind, version)
        for number, cells in enumerate(rows, start=3):
            values = list(cells)
            while values and values[-1] is None:
                values.pop()
            if not values or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            doc.records.append((number, _record(header, values)))
        return doc
    finally:
        book.close()
