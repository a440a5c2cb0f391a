"""firmware_configs/: one template per kind of node, all valid, and the editors' JSON Schema kept in step."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml

from iocgw.cli import main
from wire.nodeconfig import NodeConfig, SiteKind, load_node_config, node_config_schema
from wire.nodeconfig.placeholders import CHANGE_MARK, TEMPLATE_NODE_IDS, TEMPLATE_SITE_NAMES

ROOT = Path(__file__).resolve().parents[1] / "firmware_configs"
SCHEMA = ROOT / "node-config.schema.json"


def test_schema_file_is_generated_from_the_model():
    assert SCHEMA.read_text(encoding="utf-8") == node_config_schema(), "run: iocgw edge schema"


def test_one_template_per_kind_of_node_and_each_valid(capsys):
    templates = sorted((ROOT / "templates").glob("*.yaml"))
    kinds = {load_node_config(p).site.kind for p in templates}
    assert kinds == set(SiteKind) - {SiteKind.OTHER}
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    for path in templates:
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=../node-config.schema.json")
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    # As templates: the schema, and every placeholder on a line marked CHANGE.
    assert main(["edge", "validate", "--template", *map(str, templates + examples)]) == 0, capsys.readouterr().err


def test_a_template_copied_unchanged_is_not_a_node_config(tmp_path, capsys):
    for template in sorted((ROOT / "templates").glob("*.yaml")):
        text = template.read_text(encoding="utf-8")
        node = tmp_path / template.name
        node.write_text(text, encoding="utf-8")
        assert main(["edge", "validate", str(node)]) == 2
        err = capsys.readouterr().err
        lines = text.splitlines()
        flagged = {int(n) for n in re.findall(rf"{re.escape(str(node))}: line (\d+): ", err)}
        for field in ("node_id:", "  name:", "  host: hub.ioc.example"):
            line = next(i for i, t in enumerate(lines, 1) if t.startswith(field))
            assert line in flagged, f"{template.name}: {field} not flagged"
        assert all(CHANGE_MARK.search(lines[n - 1]) for n in flagged)  # no false alarm on the lines kept
        assert "is a template placeholder" in err and "--template" in err


def test_placeholder_lists_are_the_templates_own():
    configs = [load_node_config(p) for p in (ROOT / "templates").glob("*.yaml")]
    assert {c.node_id for c in configs} == TEMPLATE_NODE_IDS
    assert {c.site.name for c in configs} == TEMPLATE_SITE_NAMES


def test_an_edited_template_is_a_valid_node_config(tmp_path, capsys):
    text = (ROOT / "templates" / "river-station.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("river-station-01", "hn-longbien-01"),
        ("Trạm thủy văn (mẫu)", "Hồng - Hà Nội (Long Biên)"),
        ("hub.ioc.example", "mqtt.ioc.hanoi.gov.vn"),
        ("192.0.2.10", "10.20.1.50"),
    ):
        text = text.replace(old, new)
    node = tmp_path / "hn-longbien-01.yaml"
    node.write_text(text, encoding="utf-8")  # the CHANGE marks stay: technicians rarely delete comments
    assert main(["edge", "validate", str(node)]) == 0, capsys.readouterr().err


def test_a_template_marks_its_placeholders(tmp_path, capsys):
    template = tmp_path / "t.yaml"
    template.write_text(
        "node_id: n1   # CHANGE\nsensors:\n  - id: t\n    quantity: temperature\n"
        "    driver: {type: modbus_tcp, host: 192.0.2.7, address: 0}\n",
        encoding="utf-8",
    )
    assert main(["edge", "validate", "--template", str(template)]) == 2
    assert "line 5: sensors.0.driver.host: '192.0.2.7' is a template placeholder" in capsys.readouterr().err
    template.write_text("node_id: n1\n", encoding="utf-8")
    assert main(["edge", "validate", "--template", str(template)]) == 2
    assert "this file has none" in capsys.readouterr().err


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
    good = ROOT / "templates" / "river-station.yaml"
    assert main(["edge", "validate", "--template", str(bad), str(good)]) == 2
    out = capsys.readouterr()
    assert "river-station.yaml: ok" in out.out
    fps_line = text.splitlines().index("    fps: -1") + 1
    assert f"line {fps_line}: cameras.0.fps" in out.err and "site.kind" in out.err


def test_a_remote_config_is_the_same_schema():
    data = yaml.safe_load((ROOT / "templates" / "reservoir-dam.yaml").read_text(encoding="utf-8"))
    assert NodeConfig.model_validate(json.loads(json.dumps(data))).site.kind == SiteKind.RESERVOIR


def test_one_place_for_the_nodes_files_everywhere_it_is_named():
    """The broker's ACL, the nodes and the hub's registry are made from one set of files: every doc, inventory and
    example names the same folder, and the hub's seed glob is what the hub role installs."""
    repo = ROOT.parent
    named = set()
    sources = [repo / "README.md", *(repo / "docs").rglob("*.md"), *(repo / "docs" / "examples").glob("*.yaml")]
    sources += [*ROOT.rglob("*.md"), *ROOT.rglob("*.yaml"), *(repo / "ansible").rglob("*.y*ml")]
    for path in sources:
        for match in re.findall(r"firmware_configs/[^\s'\"`)\]]*", path.read_text(encoding="utf-8")):
            first = match.split("/")[1]
            if first not in ("", "...", "templates", "examples", "node-config.schema.json", "README.md"):
                named.add((first, str(path.relative_to(repo))))
    assert {first for first, _ in named} == {"nodes"}, sorted(named)
    hub_vars = yaml.safe_load((repo / "ansible/inventory/group_vars/hub.yml").read_text(encoding="utf-8"))
    example = yaml.safe_load((repo / "docs/examples/hub.yaml").read_text(encoding="utf-8"))
    assert (
        example["registry"]["seed_files"] == hub_vars["iocgw_hub_config"]["registry"]["seed_files"] == ["nodes/*.yaml"]
    )
    assert all(Path(f["dest"]).match("nodes/*.yaml") for f in hub_vars["iocgw_hub_config_extra_files"])
    edge_vars = yaml.safe_load((repo / "ansible/inventory/group_vars/edge_nodes.yml").read_text(encoding="utf-8"))
    assert edge_vars["iocgw_edge_config_file"].endswith("/firmware_configs/nodes/{{ inventory_hostname }}.yaml")
