"""The INT8 variant of the real model: the committed files are the ones its manifest names, its figures are its
own, it still finds the committed sample's fires and smoke; and quantize.py makes such a model from a data folder."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge.inference import Detector, OpenVinoConfig, load_manifest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fire_smoke_real"
INT8 = MODEL / "int8"
SAMPLE = ROOT / "tests" / "data" / "real_sample"


def _found(manifest: Path) -> dict[int, list[int]]:
    detector = Detector.load(load_manifest(manifest), OpenVinoConfig())
    found = {0: [0, 0], 1: [0, 0]}
    for e in json.loads((SAMPLE / "index.json").read_text()):
        img = cv2.imread(str(SAMPLE / e["file"]), cv2.IMREAD_COLOR)
        seen = {int(d[5]) for d in detector.detect(img) if d[4] >= 0.5}
        for label in {int(b[0]) for b in e["boxes"]}:
            found[label][1] += 1
            found[label][0] += int(label in seen)
    return found


def test_committed_int8_manifest_files_and_its_own_figures() -> None:
    doc = yaml.safe_load((INT8 / "manifest.yaml").read_text())
    assert doc["name"] == "fire-smoke-real-int8" and doc["backends"] == {"openvino": "fire_smoke_real_int8.xml"}
    for name, digest in doc["files"].items():
        assert hashlib.sha256((INT8 / name).read_bytes()).hexdigest() == digest, name
    fp32 = yaml.safe_load((MODEL / "manifest.yaml").read_text())
    assert doc["version"] == fp32["version"] and doc["labels"] == fp32["labels"] and doc["input"] == fp32["input"]
    held = doc["metrics"]["held_out"]
    assert held["images"] == 872
    for label in ("fire", "smoke"):
        assert held["per_label"][label]["precision"] >= 0.9 and held["per_label"][label]["recall"] >= 0.85
    assert held != fp32["metrics"]["held_out"]  # measured on the INT8 model, not copied from the fp32 one
    # Weights are int8: the IR's weight file is about a quarter of the fp32 one.
    assert (INT8 / "fire_smoke_real_int8.bin").stat().st_size < 0.35 * (MODEL / "fire_smoke_real.bin").stat().st_size
    load_manifest(INT8 / "manifest.yaml")


def test_committed_int8_finds_the_samples_fires_and_smoke() -> None:
    found = _found(INT8 / "manifest.yaml")
    # 12 fire and 16 smoke images (half from the train split: a check of the files, not a metric). The INT8 model
    # finds 12 and 14, the fp32 one 12 and 15.
    assert found[0][1] == 12 and found[0][0] >= 10
    assert found[1][1] == 16 and found[1][0] >= 12


def test_quantize_makes_a_loadable_int8_model_from_a_data_folder(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "models"))
    from fire_smoke_real import quantize

    agreement = quantize.quantize(MODEL, SAMPLE, tmp_path, subset=14, check=7)
    assert agreement["images"] == 7 and 0 <= agreement["score_abs_diff_p50"] <= 1
    doc = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    assert doc["name"] == "fire-smoke-real-int8" and "metrics" not in doc  # evaluate.py measures it afterwards
    record = json.loads((tmp_path / "quantize_record.json").read_text())
    assert record["calibration"].startswith("14 images")
    manifest = load_manifest(tmp_path / "manifest.yaml")
    detector = Detector.load(manifest, OpenVinoConfig())
    img = cv2.imread(str(SAMPLE / json.loads((SAMPLE / "index.json").read_text())[0]["file"]), cv2.IMREAD_COLOR)
    assert np.isfinite(detector.detect(img)).all()
    import openvino as ov

    ops = {op.get_type_name() for op in ov.Core().read_model(str(tmp_path / quantize.XML)).get_ordered_ops()}
    assert "FakeQuantize" in ops  # quantized, not a copy
