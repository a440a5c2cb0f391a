"""Running a dashboard's InfluxQL against InfluxDB the way Grafana does, and reading what a query promises."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from hub.grafana.influxql import render

Series = dict[str, Any]  # InfluxDB's series: name, tags, columns, values


def run(url: str, db: str, q: str) -> list[Series]:
    """All series of the statement (Grafana asks /query with epoch=ms)."""
    params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as r:
        result = json.loads(r.read())["results"][0]
    if "error" in result:
        raise AssertionError(f"InfluxDB refused {q!r}: {result['error']}")
    return list(result.get("series", []))


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes and parentheses."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def selected_columns(sql: str) -> list[str]:
    """The column names a SELECT returns: its aliases, bare fields or tags, and aggregate names."""
    m = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", sql, flags=re.S | re.I)
    assert m, f"not a SELECT: {sql}"
    names = []
    for item in _split_top(m.group(1)):
        alias = re.search(r'\sAS\s+"([^"]+)"\s*$', item, flags=re.I)
        if alias:
            names.append(alias.group(1))
        elif re.fullmatch(r'"[^"]+"', item):
            names.append(item.strip('"'))
        else:
            names.append(re.match(r"(\w+)\(", item).group(1))  # type: ignore[union-attr]
    return names


def grouped_tags(sql: str) -> list[str]:
    m = re.search(r"\sGROUP BY\s+(.*?)(?:\s+fill\(|\s+ORDER\s|\s+LIMIT\s|$)", sql, flags=re.I)
    if not m:
        return []
    return [p.strip('"') for p in _split_top(m.group(1)) if not p.lower().startswith("time(")]


def non_null_columns(series: list[Series]) -> set[str]:
    """Columns (and grouped tags) that hold a value in at least one row of some series."""
    seen: set[str] = set()
    for s in series:
        seen |= {k for k, v in (s.get("tags") or {}).items() if v}
        for row in s["values"]:
            seen |= {c for c, v in zip(s["columns"], row, strict=True) if v is not None}
    return seen


def interpolate(sql: str, variables: dict[str, str | list[str]], span: tuple[datetime, datetime]) -> str:
    return render(sql, variables, span[0], span[1], interval="1h")
