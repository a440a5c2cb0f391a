"""Grafana file provisioning: data source, dashboard provider and dashboards, alert rules and contact point.

Layout under ``--out`` (point Grafana's ``paths.provisioning`` at ``OUT/provisioning``)::

    provisioning/datasources/iocgw.yaml
    provisioning/dashboards/iocgw.yaml     the file provider, reading OUT/dashboards
    provisioning/alerting/iocgw.yaml       alert rule group and contact point
    dashboards/<uid>.json
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from hub.grafana.alerting import provisioning_file
from hub.grafana.bundle import Bundle, BundleOptions, build_bundle

ORG_ID = 1


def _write(path: Path, text: str) -> None:
    """Whole file or nothing, so Grafana's file watcher never reads half a dashboard."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _yaml(data: dict[str, Any]) -> str:
    return "# Written by `iocgw grafana export`; edit the code in hub/grafana, not this file.\n" + yaml.safe_dump(
        data, allow_unicode=True, sort_keys=False, width=10_000
    )


def datasources_file(bundle: Bundle) -> dict[str, Any]:
    return {"apiVersion": 1, "datasources": [{**bundle.datasource, "orgId": ORG_ID, "editable": False}]}


def dashboards_provider(bundle: Bundle, dashboards_path: Path) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "iocgw",
                "orgId": ORG_ID,
                "type": "file",
                "folder": bundle.folder_title,
                "folderUid": bundle.folder_uid,
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": str(dashboards_path), "foldersFromFilesStructure": False},
            }
        ],
    }


def export(out: Path, options: BundleOptions, dashboards_path: Path | None = None) -> list[Path]:
    """Write the provisioning folder; returns the files written. ``dashboards_path`` is where Grafana will see
    ``OUT/dashboards`` (a container mount, say); by default that folder's absolute path here."""
    bundle = build_bundle(options)
    out = out.resolve()
    dash_dir = out / "dashboards"
    files = {
        out / "provisioning" / "datasources" / "iocgw.yaml": _yaml(datasources_file(bundle)),
        out / "provisioning" / "dashboards" / "iocgw.yaml": _yaml(
            dashboards_provider(bundle, dashboards_path or dash_dir)
        ),
        out / "provisioning" / "alerting" / "iocgw.yaml": _yaml(
            provisioning_file(bundle.folder_title, bundle.folder_uid, options.contact)
        ),
    }
    for d in bundle.dashboards:
        files[dash_dir / f"{d['uid']}.json"] = json.dumps(d, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    for path, text in files.items():
        _write(path, text)
    return sorted(files)
