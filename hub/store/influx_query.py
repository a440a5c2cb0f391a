"""Reading InfluxDB back through the v1 /query API (InfluxQL): the demo, checks and tests use it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any


def query(url: str, db: str, q: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Rows of the first statement as dicts, tags included, time in epoch ms; [] when nothing matches."""
    params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=timeout) as resp:
        data = json.loads(resp.read())
    result = data["results"][0]
    if "error" in result:
        if "database not found" in result["error"]:
            return []
        raise RuntimeError(result["error"])
    rows = []
    for series in result.get("series", []):
        cols = series["columns"]
        base = {"measurement": series.get("name"), **series.get("tags", {})}
        for values in series["values"]:
            rows.append({**base, **dict(zip(cols, values, strict=True))})
    return rows


def count(url: str, db: str, measurement: str, where: str = "") -> int:
    """Number of ``value`` fields in one measurement, or in all when ``measurement`` is a /regex/."""
    source = measurement if measurement.startswith("/") else f'"{measurement}"'
    rows = query(url, db, f'SELECT count("value") FROM {source} {where}')
    return sum(int(r["count"]) for r in rows)
