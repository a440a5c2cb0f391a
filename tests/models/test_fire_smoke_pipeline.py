"""The training script end to end on the tiny budget: simulator frames in, TFLite + OpenVINO IR + manifest out."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "models" / "fire_smoke" / "train.py"


def test_tiny_budget_trains_and_exports_a_loadable_model(tmp_path: Path) -> None:
    out = tmp_path / "fs"
    proc = subprocess.run(
        [sys.executable, str(TRAIN), "--budget", "tiny", "--out", str(out), "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,  # the script must find its own modules and the simulator from anywhere
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = yaml.safe_load((out / "manifest.yaml").read_text())
    assert doc["synthetic"] is True
    assert doc["labels"] == ["fire", "smoke", "flood"]
    assert doc["output_shape"] == [1, 7, 144]
    assert set(doc["files"]) == {"fire_smoke.tflite", "fire_smoke.xml", "fire_smoke.bin"}
    for name, digest in doc["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    assert doc["backends"] == {"openvino": "fire_smoke.xml", "litert": "fire_smoke.tflite"}
    record = json.loads((out / "train_record.json").read_text())
    assert record["budget"] == "tiny" and record["seed"] == 3
    assert record["frames"] > 0 and sum(record["boxes"].values()) > 0
    assert len(record["history"]) == record["settings"]["epochs"]
    assert record["hard_negative_seeds"][0] == 500_000  # the budget's look-alike clips were rendered too
    # The edge node's own manifest loader accepts it (schema and sha256).
    from edge.inference.manifest import load_manifest

    manifest = load_manifest(out / "manifest.yaml")
    assert manifest.output_shape == [1, 7, 144]
