"""The real model's scripts end to end on the committed real sample: train (tiny), export, evaluate, manifest."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "models" / "fire_smoke_real"
SAMPLE = ROOT / "tests" / "data" / "real_sample"


def test_tiny_budget_trains_exports_and_evaluates_on_real_images(tmp_path: Path) -> None:
    out = tmp_path / "fsr"
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "train.py"), "--data", str(SAMPLE), "--budget", "tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,  # the scripts find their own modules from anywhere
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "runtimes agree" in proc.stdout
    doc = yaml.safe_load((out / "manifest.yaml").read_text())
    assert doc["synthetic"] is False
    assert doc["labels"] == ["fire", "smoke"]
    assert doc["output_shape"] == [1, 6, 400]  # 4 box rows + 2 scores over a 20 x 20 grid
    for name, digest in doc["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    record = json.loads((out / "train_record.json").read_text())
    assert record["budget"] == "tiny" and record["images"] == 8
    assert len(record["stage1"]) == record["settings"]["epochs"]
    assert len(record["stage2"]) == record["settings"]["stage2_epochs"]
    assert record["simulator_negatives"] > 0  # stage 2 had its look-alike negatives
    assert record["init"].startswith("ImageNet")

    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "evaluate.py"), "--model", str(out), "--data", str(SAMPLE), "--write"],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    held = figures["held_out"]
    assert held["images"] == 7  # the sample's test split
    assert set(held["per_label"]) == {"fire", "smoke"}
    for lab in held["per_label"].values():
        assert 0.0 <= lab["precision"] <= 1.0 and 0.0 <= lab["recall"] <= 1.0 and lab["min_score"] == 0.5
        assert set(lab["curve"]) == {"0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9"}
        # Recall can only fall as the score rises.
        recalls = [lab["curve"][t]["recall"] for t in sorted(lab["curve"])]
        assert recalls == sorted(recalls, reverse=True)
    written = yaml.safe_load((out / "manifest.yaml").read_text())
    assert written["metrics"]["held_out"] == held
    # The node's own loader accepts the manifest, metrics and all.
    from edge.inference.manifest import load_manifest

    assert load_manifest(out / "manifest.yaml").labels == ["fire", "smoke"]
