"""The committed model: its files are the ones the manifest names, and both runtimes run it and agree."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from fire_smoke import dataset, evaluate, export

MODEL = Path(__file__).resolve().parents[2] / "models" / "fire_smoke"


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((MODEL / "manifest.yaml").read_text())


@pytest.fixture(scope="module")
def clip() -> tuple[np.ndarray, list[np.ndarray]]:
    """The last frames of a held-out forest clip with flames and their smoke: model input and truth boxes."""
    from simulators.camera import ClipSpec, SceneEvent, iter_frames

    spec = ClipSpec(
        scene="forest",
        seconds=12.0,
        fps=1.0,
        seed=dataset.EVAL_SEED_BASE + 77_777,
        events=[SceneEvent(kind="fire", start_s=0.0, x=0.45, y=0.7, size=0.15)],
        distractors=["birds", "trees"],
    )
    imgs, truths = [], []
    for frame, truth in list(iter_frames(spec))[-4:]:
        img, lb = dataset.letterbox(frame)
        imgs.append(img)
        truths.append(dataset.map_boxes(truth.boxes, lb))
    return np.stack(imgs).astype(np.float32) / 255.0, truths


def test_committed_files_match_the_manifest(manifest: dict) -> None:
    assert manifest["synthetic"] is True
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((MODEL / name).read_bytes()).hexdigest() == digest, name
    from edge.inference.manifest import load_manifest

    assert load_manifest(MODEL / "manifest.yaml").labels == ["fire", "smoke", "flood"]


def test_committed_manifest_carries_measured_metrics(manifest: dict) -> None:
    metrics = manifest["metrics"]
    assert metrics["iou_threshold"] == evaluate.IOU
    for label in manifest["labels"]:
        figures = metrics["per_label"][label]
        assert 0.0 <= figures["precision"] <= 1.0 and 0.0 <= figures["recall"] <= 1.0
        assert figures["truth_boxes"] > 0
    assert metrics["distractors"]["frames"] > 0


def test_both_runtimes_give_the_manifest_shape_and_agree(manifest: dict, clip: tuple) -> None:
    frames, _ = clip
    ov_out = export.run_openvino(MODEL / manifest["backends"]["openvino"], frames)
    lite_out = export.run_litert(MODEL / manifest["backends"]["litert"], frames)
    assert list(ov_out.shape[1:]) == manifest["output_shape"]
    assert list(lite_out.shape[1:]) == manifest["output_shape"]
    # Boxes are in input pixels (0-192) and scores 0-1; float32 kernels differ only by rounding.
    box, score = export.agreement(ov_out, lite_out)
    assert box <= export.AGREE_BOX_PX and score <= export.AGREE_SCORE
    scores = ov_out[:, :, 4:, :]
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    same = [
        (evaluate.decode(a)[:, 0].tolist(), evaluate.decode(b)[:, 0].tolist())
        for a, b in zip(ov_out, lite_out, strict=True)
    ]
    assert all(x == y for x, y in same)


def test_committed_model_finds_the_flames_of_a_held_out_clip(manifest: dict, clip: tuple) -> None:
    frames, truths = clip
    outputs = export.run_openvino(MODEL / manifest["backends"]["openvino"], frames)
    fire = dataset.LABELS.index("fire")
    for out, truth in zip(outputs, truths, strict=True):
        assert (truth[:, 0] == fire).any()
        found = evaluate.match(evaluate.decode(out), truth, len(dataset.LABELS))["found"]
        assert found[truth[:, 0] == fire].all(), evaluate.decode(out)
