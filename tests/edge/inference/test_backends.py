"""Both backends on the same frames give the same detections (boxes within 0.5 px, scores within 0.01)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.inference import BACKENDS, Detector, LiteRtConfig, OpenVinoConfig, load_manifest
from edge.inference.manifest import InputSpec
from edge.inference.preprocess import fit
from tests.edge.inference.tinymodel import red_square_frame

BOX_TOL_PX = 0.5
SCORE_TOL = 0.01


@pytest.fixture(scope="module")
def detectors(tiny_manifest: Path) -> dict[str, Detector]:
    m = load_manifest(tiny_manifest)
    return {"openvino": Detector.load(m, OpenVinoConfig()), "litert": Detector.load(m, LiteRtConfig(threads=1))}


def test_both_backends_registered() -> None:
    assert {"openvino", "litert"} <= set(BACKENDS.names())


def test_detection_lands_on_the_square_in_frame_pixels(detectors: dict[str, Detector]) -> None:
    frame = red_square_frame(320, 240, (100, 60, 180, 140))
    for name, det in detectors.items():
        dets = det.detect(frame)
        assert len(dets) == 1, name
        x1, y1, x2, y2, score, cls = dets[0]
        assert cls == 0 and score > 0.8
        # The grid cell that holds most of the square, mapped back through the letterbox: 16-32 px of the 64 px
        # input is x 80-160, and y (16-8)/0.2 = 40 to 120 in the frame.
        np.testing.assert_allclose([x1, y1, x2, y2], [80, 40, 160, 120], atol=1.0)


def test_backends_agree(detectors: dict[str, Detector]) -> None:
    rng = np.random.default_rng(3)
    for i in range(12):
        x, y = int(rng.integers(0, 250)), int(rng.integers(0, 170))
        frame = red_square_frame(320, 240, (x, y, x + 70, y + 70))
        frame[rng.integers(0, 240, 400), rng.integers(0, 320, 400)] = (255, 0, 0)  # blue speckle
        a, b = detectors["openvino"].detect(frame), detectors["litert"].detect(frame)
        assert a.shape == b.shape, f"frame {i}: {a} vs {b}"
        np.testing.assert_allclose(a[:, :4], b[:, :4], atol=BOX_TOL_PX)
        np.testing.assert_allclose(a[:, 4], b[:, 4], atol=SCORE_TOL)
        np.testing.assert_array_equal(a[:, 5], b[:, 5])


def test_roi_offsets_map_back(detectors: dict[str, Detector]) -> None:
    frame = red_square_frame(640, 360, (400, 200, 432, 232))
    det = detectors["openvino"]
    dets = det.detect(frame, roi=(384, 184, 448, 248))  # a 64 px crop holding the square: no scaling
    assert len(dets) >= 1
    x1, y1, x2, y2 = dets[0, :4]
    assert 384 <= x1 < 432 and 184 <= y1 < 232 and x2 <= 448 and y2 <= 248


def test_letterbox_geometry() -> None:
    spec = InputSpec(width=64, height=64)
    img, t = fit(np.zeros((240, 320, 3), dtype=np.uint8), spec)
    assert img.shape == (64, 64, 3) and t.pad_y == 8 and t.pad_x == 0
    back = t.to_frame(np.array([[0, 8, 64, 56, 1, 0]], dtype=np.float32))
    np.testing.assert_allclose(back[0, :4], [0, 0, 320, 240], atol=1e-4)


def test_openvino_leaves_threads_unpinned_unless_asked(tiny_manifest: Path) -> None:
    # Pinned, every camera's single-thread model lands on the same core (one core of two busy, measured in
    # bench/camera); unpinned, the OS spreads them.
    manifest = load_manifest(tiny_manifest)

    def pinned(config: OpenVinoConfig) -> bool:
        det = Detector.load(manifest, config)
        try:
            return bool(det.backend._request.get_compiled_model().get_property("ENABLE_CPU_PINNING"))
        finally:
            det.close()

    assert pinned(OpenVinoConfig(threads=1)) is False
    assert pinned(OpenVinoConfig(threads=1, pin_threads=True)) is True
