"""firmware_configs/: one template per kind of node, all valid, and the editors' JSON Schema kept in step."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from edge.config import NodeConfig, SiteKind, load_node_config, node_config_schema
from iocgw.cli import main

ROOT = Path(__file__).resolve().parents[1] / "firmware_configs"
SCHEMA = ROOT / "node-config.schema.json"


def test_schema_file_is_generated_from_the_model():
    assert SCHEMA.read_text(encoding="utf-8") == node_config_schema(), "run: iocgw edge schema"


def test_one_template_per_kind_of_node_and_each_valid():
    templates = sorted((ROOT / "templates").glob("*.yaml"))
    kinds = {load_node_config(p).site.kind for p in templates}
    assert kinds == set(SiteKind) - {SiteKind.OTHER}
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for path in templates:
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../node-config.schema.json")
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_editors_schema_catches_what_the_model_catches(tmp_path):
    data = yaml.safe_load((ROOT / "templates" / "forest-camera-tower.yaml").read_text(encoding="utf-8"))
    data["cameras"][0]["fps"] = "fast"
    data["sensors"][0]["quantity"] = "lava_level"
    errors = sorted(
        ".".join(str(p) for p in e.absolute_path)
        for e in jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).iter_errors(data)
    )
    assert "cameras.0.fps" in errors and any(e.startswith("sensors.0") for e in errors)
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["edge", "validate", str(bad)]) == 2


def test_validate_reports_every_problem_with_line_and_field(tmp_path, capsys):
    text = (ROOT / "templates" / "forest-camera-tower.yaml").read_text(encoding="utf-8")
    text = text.replace("    fps: 5\n", "    fps: -1\n", 1).replace("  kind: forest_camera", "  kind: volcano")
    bad = tmp_path / "tower.yaml"
    bad.write_text(text, encoding="utf-8")
    assert main(["edge", "validate", str(bad), str(ROOT / "templates" / "river-station.yaml")]) == 2
    out = capsys.readouterr()
    assert "river-station.yaml: ok" in out.out
    fps_line = text.splitlines().index("    fps: -1") + 1
    assert f"line {fps_line}: cameras.0.fps" in out.err and "site.kind" in out.err


def test_a_remote_config_is_the_same_schema():
    data = yaml.safe_load((ROOT / "templates" / "reservoir-dam.yaml").read_text(encoding="utf-8"))
    assert NodeConfig.model_validate(json.loads(json.dumps(data))).site.kind == SiteKind.RESERVOIR
