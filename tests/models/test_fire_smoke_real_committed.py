"""The committed real model: its files are the ones its manifest names, both runtimes agree on real images, and it
finds the fires and smoke of the committed real sample (CC BY 4.0 images from its own test split)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.inference import Detector, LiteRtConfig, OpenVinoConfig, load_manifest

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "fire_smoke_real"
SAMPLE = ROOT / "tests" / "data" / "real_sample"


@pytest.fixture(scope="module")
def sample() -> list[tuple[np.ndarray, set[int], str]]:
    out = []
    for e in json.loads((SAMPLE / "index.json").read_text()):
        img = cv2.imread(str(SAMPLE / e["file"]), cv2.IMREAD_COLOR)
        out.append((img, {int(b[0]) for b in e["boxes"]}, e["split"]))
    return out


def test_manifest_names_the_committed_files_and_its_measured_figures() -> None:
    doc = yaml.safe_load((MODEL / "manifest.yaml").read_text())
    assert doc["name"] == "fire-smoke-real" and doc["synthetic"] is False
    assert doc["labels"] == ["fire", "smoke"] and doc["output_shape"] == [1, 6, 400]
    for name, digest in doc["files"].items():
        assert hashlib.sha256((MODEL / name).read_bytes()).hexdigest() == digest, name
    held = doc["metrics"]["held_out"]
    assert held["images"] == 872
    for label in ("fire", "smoke"):
        assert held["per_label"][label]["precision"] >= 0.9 and held["per_label"][label]["recall"] >= 0.85
    assert set(doc["metrics"]["tower_sequences"]) == {"20180728_FIRE_rm-w-mobo-c", "20190925_FIRE_wc-s-mobo-c"}
    load_manifest(MODEL / "manifest.yaml")  # the node's own checks: schema, files, sha256


def test_both_runtimes_agree_on_real_images(sample: list) -> None:
    manifest = load_manifest(MODEL / "manifest.yaml")
    ov = Detector.load(manifest, OpenVinoConfig())
    lite = Detector.load(manifest, LiteRtConfig())
    for img, _, _ in sample[:8]:
        a, b = ov.detect(img), lite.detect(img)
        assert a.shape == b.shape
        if len(a):
            assert np.abs(a[:, :4] - b[:, :4]).max() < 0.5  # frame pixels
            assert np.abs(a[:, 4] - b[:, 4]).max() < 1e-3
            assert (a[:, 5] == b[:, 5]).all()


def test_it_finds_the_samples_fires_and_smoke(sample: list) -> None:
    detector = Detector.load(load_manifest(MODEL / "manifest.yaml"), OpenVinoConfig())
    found = {0: [0, 0], 1: [0, 0]}
    for img, labels, _ in sample:
        dets = detector.detect(img)
        seen = {int(d[5]) for d in dets if d[4] >= 0.5}
        for label in (0, 1):
            if label in labels:
                found[label][1] += 1
                found[label][0] += int(label in seen)
    # fire: 12 sample images, smoke: 16 (some hold both; half are from the train split, so this is a check of the
    # files, not a metric: the model finds 12 and 15). A broken export, preprocessing or decoder finds few or none.
    assert found[0][1] == 12 and found[0][0] >= 10
    assert found[1][1] == 16 and found[1][0] >= 13
