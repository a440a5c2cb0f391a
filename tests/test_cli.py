"""The iocgw command: help, config validation with file/line/field, meaningful exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
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


def test_plugins_lists_every_registry_and_its_plugins(capsys):
    assert main(["plugins"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    # The simulated driver comes from simulators through the entry point, not from an edge import.
    assert lines["sensor driver"] == "modbus_tcp, simulated"
    assert lines["inference backend"] == "litert, openvino"
    assert set(lines) >= {"decoder", "notifier", "feed kind", "signal model", "fault", "dashboard"}


def test_validate_example_node_configs(capsys):
    files = sorted(str(p) for p in (ROOT / "firmware_configs").rglob("*.yaml"))
    assert files
    assert main(["edge", "validate", "--template", *files]) == 0
    # Their broker and logger addresses are placeholders: as a node's own files they are refused.
    assert main(["edge", "validate", *files]) == 2


def test_validate_reports_file_line_and_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "node_id: n1\nsensors:\n  - id: wl\n    quantity: water_level\n    interval_s: -5\n"
        "    driver: {type: simulated, model: constant}\n"
    )
    assert main(["edge", "validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 5: sensors.0.interval_s: Input should be greater than 0" in err


def validate_node(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, str, Path]:
    path = tmp_path / "node.yaml"
    path.write_text(text, encoding="utf-8")
    rc = main(["edge", "validate", str(path)])
    return rc, capsys.readouterr().err, path


SENSOR = "node_id: n1\nsensors:\n  - id: rain\n    quantity: rainfall\n"


@pytest.mark.parametrize(
    ("interval", "alarm", "ok"),
    [
        (60, "{above: 20, fast_interval_s: 120}", False),
        (60, "{above: 20, fast_interval_s: 60}", True),
        (60, "{above: 20, fast_interval_s: 30}", True),
        (30, "{above: 20}", True),  # the default 60 s on a sensor read every 30 s: nothing to refuse
    ],
)
def test_validate_refuses_an_alarm_that_samples_slower(tmp_path, capsys, interval, alarm, ok):
    text = SENSOR + f"    interval_s: {interval}\n    alarm: {alarm}\n"
    rc, err, path = validate_node(tmp_path, capsys, text + "    driver: {type: simulated}\n")
    if ok:
        assert rc == 0, err
    else:
        assert rc == 2
        assert f"{path}: line 6: sensors.0.alarm: " in err
        assert "fast_interval_s (120 s) is longer than the sensor's interval_s (60 s)" in err


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ('"01"', None),
        ('"00004"', None),
        ('"0100004"', "'0100004' is not a GSO code: a province has 2 digits, a commune 5 (got 7 digits)"),
        ('"0100100004"', "(got 10 digits)"),
        ('"001"', "001 is a district code: the district level was abolished on 2025-07-01"),
        ('"1A"', "(got not only digits)"),
        ("1", "write the code in quotes"),
    ],
)
def test_validate_admin_code_is_a_current_gso_code(tmp_path, capsys, code, why):
    rc, err, path = validate_node(tmp_path, capsys, f"node_id: n1\nsite:\n  admin_code: {code}\n")
    if why is None:
        assert rc == 0, err
    else:
        assert rc == 2 and f"{path}: line 3: site.admin_code: " in err and why in err


def test_validate_names_the_sensor_drivers(tmp_path, capsys):
    text = SENSOR + "    driver: {type: modbus_rtu, host: 10.0.0.1}\n  - id: t\n    quantity: temperature\n"
    rc, err, path = validate_node(tmp_path, capsys, text + "    driver: {host: 10.0.0.1}\n")
    assert rc == 2
    assert f"{path}: line 5: sensors.0.driver: unknown sensor driver 'modbus_rtu'; the sensor drivers are: " in err
    assert f"{path}: line 8: sensors.1.driver: type is missing; the sensor drivers are: modbus_tcp, simulated" in err
    assert "Input tag" not in err and "discriminator" not in err


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


@pytest.mark.parametrize("argv", [["edge", "schema", "--out", "-"], ["--help"]])
def test_output_into_a_closed_pipe_ends_quietly(argv):
    # `iocgw ... | head` once head has gone: a real pipe, its reading end closed before anything is written.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "iocgw.cli", *argv], stdout=write_end, stderr=subprocess.PIPE, cwd=ROOT, timeout=60
        )
    finally:
        os.close(write_end)
    assert proc.stderr == b""  # no traceback, no "Exception ignored ... BrokenPipeError"
    assert proc.returncode in (0, 141)


def test_schema_into_head_is_quiet():
    head = subprocess.run(
        f"{sys.executable} -m iocgw.cli edge schema --out - | head -1; echo rc=${{PIPESTATUS[0]}} >&2",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        cwd=ROOT,
        timeout=60,
    )
    assert head.stdout == b"{\n"
    assert head.stderr.decode().strip() in ("rc=0", "rc=141")
