"""The iocgw command: help, config validation with file/line/field, meaningful exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import load_hub_config
from iocgw.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for sub in ("edge", "hub", "sim", "demo", "bench", "contract"):
        assert sub in out


def test_validate_example_node_configs(capsys):
    files = sorted(str(p) for p in (ROOT / "firmware_configs").rglob("*.yaml"))
    assert files
    assert main(["edge", "validate", *files]) == 0


def test_validate_reports_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "node_id: n1\nsensors:\n  - id: wl\n    quantity: water_level\n    interval_s: -5\n"
        "    driver: {type: simulated, model: constant}\n"
    )
    assert main(["edge", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 5: sensors.0.interval_s: Input should be greater than 0" in err


def test_validate_reports_yaml_syntax_error(tmp_path, capsys):
    bad = tmp_path / "broken.yaml"
    bad.write_text("node_id: n1\nsensors: [\n")
    assert main(["edge", "validate", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_hub_example_config_is_valid():
    config = load_hub_config(ROOT / "docs" / "examples" / "hub.yaml")
    assert config.mqtt.client_id == "iocgw-hub-1"


def test_hub_run_with_bad_config_exits_2(tmp_path, capsys):
    bad = tmp_path / "hub.yaml"
    bad.write_text("mqtt:\n  port: 99999\n")
    assert main(["hub", "run", "--config", str(bad)]) == 2
    assert "line 2: mqtt.port" in capsys.readouterr().err
