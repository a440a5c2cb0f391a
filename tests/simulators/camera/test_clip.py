"""Clip files: MJPG video that OpenCV reads back frame for frame, truth lines and the spec."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from simulators.camera import ClipSpec, iter_frames, read_spec, read_truth, write_clip


def test_clip_round_trips_through_opencv(tmp_path: Path) -> None:
    spec = ClipSpec(
        name="roundtrip",
        scene="forest",
        seconds=3.0,
        fps=5.0,
        width=320,
        height=180,
        events=[{"kind": "fire", "start_s": 1.0, "x": 0.5, "y": 0.6, "size": 0.15}],
        distractors=["vehicles", "birds"],
    )
    paths = write_clip(spec, tmp_path / "clips")
    assert paths.video == tmp_path / "clips" / "roundtrip.avi"
    assert paths.truth.name == "roundtrip.truth.jsonl" and paths.spec.name == "roundtrip.spec.json"

    cap = cv2.VideoCapture(str(paths.video))
    assert cap.isOpened()
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == spec.frame_count
    assert cap.get(cv2.CAP_PROP_FPS) == spec.fps
    decoded = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    cap.release()
    assert len(decoded) == spec.frame_count == 15

    rendered = list(iter_frames(spec))
    for got, (want, _) in zip(decoded, rendered, strict=True):
        assert got.shape == want.shape
        mse = np.mean((got.astype(float) - want) ** 2)
        assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 28.0  # JPEG loss only, not another picture

    truths = read_truth(paths.truth)
    assert [t.index for t in truths] == list(range(spec.frame_count))
    assert truths == [t for _, t in rendered]
    assert any(b.label == "fire" for t in truths for b in t.boxes)
    assert read_spec(paths.spec) == spec
    assert json.loads(paths.spec.read_text())["name"] == "roundtrip"
