"""Reading back what the hub stored, through InfluxDB's v1 /query API."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from typing import Any


def query(url: str, db: str, q: str) -> list[dict[str, Any]]:
    """Rows of the first statement as dicts (time in epoch ms); [] when the series does not exist yet."""
    params = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as resp:
        data = json.loads(resp.read())
    result = data["results"][0]
    if "error" in result:
        if "database not found" in result["error"]:
            return []
        raise RuntimeError(result["error"])
    rows = []
    for series in result.get("series", []):
        cols = series["columns"]
        tags = series.get("tags", {})
        for values in series["values"]:
            rows.append({**tags, **dict(zip(cols, values, strict=True))})
    return rows


def count(url: str, db: str, measurement: str, where: str = "") -> int:
    rows = query(url, db, f'SELECT count("value") FROM "{measurement}" {where}')
    return int(rows[0]["count"]) if rows else 0
