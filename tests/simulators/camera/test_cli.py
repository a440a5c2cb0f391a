"""``iocgw sim camera``: render presets and spec files, list presets, refuse bad specs with file and field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iocgw.cli import main
from simulators.camera import read_truth

ROOT = Path(__file__).resolve().parents[3]


def test_render_a_preset_as_a_real_command(tmp_path: Path) -> None:
    out = tmp_path / "clips"
    args = ["sim", "camera", "render", "--preset", "river_flood", "--seconds", "2", "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "iocgw", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "river_flood: 10/10 frames (100%)" in proc.stderr
    assert (out / "river_flood.avi").stat().st_size > 10_000
    assert len(read_truth(out / "river_flood.truth.jsonl")) == 10
    assert (out / "river_flood.spec.json").exists()


def test_render_a_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "night_smoke.yaml"
    spec.write_text(
        "scene: forest\nseconds: 2\nfps: 5\nwidth: 320\nheight: 180\ntime_of_day: night\n"
        "events:\n  - kind: smoke\n    start_s: 0\n    size: 0.4\n",
        encoding="utf-8",
    )
    assert main(["sim", "camera", "render", "--spec", str(spec), "--out", str(tmp_path)]) == 0
    assert len(read_truth(tmp_path / "night_smoke.truth.jsonl")) == 10  # named after the file


def test_list_shows_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "camera", "render", "--list"]) == 0
    out = capsys.readouterr().out
    assert "forest_fire_night" in out and "dam_distractors" in out


def test_bad_spec_exits_2_naming_file_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("scene: forest\nseconds: 10\nevents:\n  - kind: fire\n    size: 3\n", encoding="utf-8")
    assert main(["sim", "camera", "render", "--spec", str(spec), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "line 5" in err and "events.0.size" in err
    assert not (tmp_path / "bad.avi").exists()


def test_water_in_a_forest_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "dry.json"
    spec.write_text('{"scene": "forest", "events": [{"kind": "water_rise", "y": 0.4}]}', encoding="utf-8")
    assert main(["sim", "camera", "render", "--spec", str(spec), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "water_rise" in err


def test_unknown_preset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "camera", "render", "--preset", "volcano", "--out", str(tmp_path)]) == 2
    assert "volcano" in capsys.readouterr().err
