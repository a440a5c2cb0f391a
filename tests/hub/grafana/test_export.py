"""`iocgw grafana export`: Grafana's file provisioning layout, checked against the documented file formats."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from hub.grafana.alerting import CONTACT_POINT, RULES
from hub.grafana.bundle import dashboard_json, register_variants
from hub.grafana.common import DATASOURCE_UID
from hub.grafana.dashboards import MODULES
from iocgw.cli import main as iocgw

# The provisioning file formats of grafana.com/docs/grafana/latest/administration/provisioning/ and
# .../alerting/set-up/provision-alerting-resources/file-provisioning/, as far as iocgw uses them.
DATASOURCES = {
    "type": "object",
    "required": ["apiVersion", "datasources"],
    "properties": {
        "apiVersion": {"const": 1},
        "datasources": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "type", "access", "url", "uid", "jsonData"],
                "properties": {
                    "access": {"enum": ["proxy", "direct"]},
                    "orgId": {"type": "integer"},
                    "jsonData": {
                        "type": "object",
                        "required": ["dbName", "version"],
                        "properties": {"version": {"const": "InfluxQL"}, "httpMode": {"enum": ["GET", "POST"]}},
                    },
                },
            },
        },
    },
}
PROVIDERS = {
    "type": "object",
    "required": ["apiVersion", "providers"],
    "properties": {
        "apiVersion": {"const": 1},
        "providers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "type", "options"],
                "properties": {
                    "type": {"const": "file"},
                    "folder": {"type": "string"},
                    "folderUid": {"type": "string"},
                    "options": {"type": "object", "required": ["path"]},
                },
            },
        },
    },
}
QUERY = {
    "type": "object",
    "required": ["refId", "datasourceUid", "model"],
    "properties": {"relativeTimeRange": {"type": "object", "required": ["from", "to"]}},
}
ALERTING = {
    "type": "object",
    "required": ["apiVersion", "groups", "contactPoints"],
    "properties": {
        "apiVersion": {"const": 1},
        "groups": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["orgId", "name", "folder", "interval", "rules"],
                "properties": {
                    "interval": {"type": "string", "pattern": r"^\d+[smh]$"},
                    "rules": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["uid", "title", "condition", "data"],
                            "properties": {
                                "data": {"type": "array", "items": QUERY, "minItems": 1},
                                "noDataState": {"enum": ["Alerting", "NoData", "OK"]},
                                "execErrState": {"enum": ["OK", "Alerting", "Error"]},
                                "for": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
        "contactPoints": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["orgId", "name", "receivers"],
                "properties": {
                    "receivers": {
                        "type": "array",
                        "items": {"type": "object", "required": ["uid", "type", "settings"]},
                    }
                },
            },
        },
    },
}


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    out = tmp_path / "grafana"
    args = ["grafana", "export", "--out", str(out), "--influx-url", "http://influxdb:8086", "--database", "ioc"]
    assert iocgw(args) == 0
    return out


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_datasource_file(exported: Path) -> None:
    data = _yaml(exported / "provisioning" / "datasources" / "iocgw.yaml")
    jsonschema.validate(data, DATASOURCES)
    (ds,) = data["datasources"]
    assert (ds["uid"], ds["type"], ds["url"], ds["jsonData"]["dbName"]) == (
        DATASOURCE_UID,
        "influxdb",
        "http://influxdb:8086",
        "ioc",
    )


def test_dashboard_provider_points_at_the_dashboards_written(exported: Path) -> None:
    data = _yaml(exported / "provisioning" / "dashboards" / "iocgw.yaml")
    jsonschema.validate(data, PROVIDERS)
    (provider,) = data["providers"]
    folder = Path(provider["options"]["path"])
    assert folder == (exported / "dashboards").resolve()
    files = sorted(folder.glob("*.json"))
    assert [f.stem for f in files] == sorted(m.UID for m in MODULES)
    register_variants()
    for f in files:
        data = json.loads(f.read_text(encoding="utf-8"))
        assert data == dashboard_json(next(m for m in MODULES if f.stem == m.UID))
        assert json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder)) == data


def test_alerting_file(exported: Path) -> None:
    data = _yaml(exported / "provisioning" / "alerting" / "iocgw.yaml")
    jsonschema.validate(data, ALERTING)
    (group,) = data["groups"]
    assert group["folder"] == "iocgw"
    assert [r["uid"] for r in group["rules"]] == [r.uid for r in RULES]
    for rule in group["rules"]:
        refs = [q["refId"] for q in rule["data"]]
        assert rule["condition"] in refs
        assert {q["datasourceUid"] for q in rule["data"]} == {DATASOURCE_UID, "__expr__"}
        assert rule["notification_settings"]["receiver"] == CONTACT_POINT
    (cp,) = data["contactPoints"]
    assert cp["name"] == CONTACT_POINT and cp["receivers"][0]["type"] == "webhook"


def test_export_is_deterministic(exported: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    args = ["grafana", "export", "--out", str(again), "--influx-url", "http://influxdb:8086", "--database", "ioc"]
    assert iocgw([*args, "--dashboards-path", str((exported / "dashboards").resolve())]) == 0
    first = {p.relative_to(exported): p.read_bytes() for p in exported.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert first == second


def test_bad_options_and_unwritable_folder(tmp_path: Path, capsys) -> None:
    assert iocgw(["grafana", "export", "--out", str(tmp_path / "x"), "--influx-url", "influx:8086"]) == 2
    assert "--influx-url 'influx:8086'" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert iocgw(["grafana", "export", "--out", str(blocker)]) == 1
    assert "cannot write" in capsys.readouterr().err
