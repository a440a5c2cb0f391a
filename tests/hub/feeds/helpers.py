"""Shared pieces of the feeds tests: an import context on a real InfluxDB, and small feed files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl

from hub.config import HubInflux
from hub.feeds.anomaly import AnomalyRules
from hub.feeds.importers import ImportContext
from hub.feeds.sink import InfluxSink
from hub.feeds.store import FeedState
from hub.feeds.units import load_units

DB = "iocgw"


def context(url: str, data_dir: Path, **kw: Any) -> ImportContext:
    return ImportContext(
        units=load_units(),
        rules=kw.pop("rules", AnomalyRules()),
        sink=InfluxSink(HubInflux(url=url, database=DB, timeout_s=2.0), retry_budget_s=kw.pop("budget", 1.0)),
        state=FeedState(data_dir / "feeds.db"),
        **kw,
    )


def csv_bytes(kind: str, rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    out.write(f"# iocgw-feed: kind={kind}; format_version=1\n")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def write_csv(path: Path, kind: str, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(csv_bytes(kind, rows))
    return path


def write_xlsx(path: Path, kind: str, rows: list[dict[str, Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append([f"# iocgw-feed: kind={kind}; format_version=1"])
    sheet.append(list(rows[0]))
    for row in rows:
        sheet.append(list(row.values()))
    book.save(path)
    return path


def indicator(code: str, admin: str, period: str, value: float, ptype: str = "M", **kw: Any) -> dict[str, Any]:
    return {
        "indicator_code": code,
        "admin_code": admin,
        "period_type": ptype,
        "period": period,
        "value": value,
        "plan": kw.get("plan", ""),
        "status": kw.get("status", "official"),
    }


def service(admin: str, period: str, **counts: int) -> dict[str, Any]:
    row: dict[str, Any] = {"admin_code": admin, "period_type": "M", "period": period}
    row.update(
        {
            "received": 0,
            "carried_over": 0,
            "resolved_early": 0,
            "resolved_on_time": 0,
            "resolved_late": 0,
            "in_progress_on_time": 0,
            "in_progress_late": 0,
        }
    )
    row.update(counts)
    return row
