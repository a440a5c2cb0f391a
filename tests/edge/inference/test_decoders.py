"""Decoders on hand-built tensors: YOLO (pixel and normalised boxes, both axis orders), SSD, classifier, NMS."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge.inference.decoders import DECODERS, make_decoder, nms

LABELS = ["fire", "smoke", "flood"]


def yolo_tensor(rows: list[tuple[float, float, float, float, int, float]], n: int = 20) -> np.ndarray:
    """[1, 4+nc, n] with the given (cx, cy, w, h, class, score) in the first columns, the rest empty."""
    out = np.zeros((1, 4 + len(LABELS), n), dtype=np.float32)
    out[0, :4, :] = 5.0  # empty cells still carry some box; their scores are 0
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def test_registry_has_the_three_decoders() -> None:
    assert {"yolo", "ssd", "classifier"} <= set(DECODERS.names())


def test_yolo_pixel_boxes() -> None:
    dec = make_decoder("yolo", {}, LABELS, 192, 192)
    dets = dec.decode(yolo_tensor([(100, 50, 40, 20, 0, 0.9), (20, 150, 10, 10, 2, 0.6), (60, 60, 8, 8, 1, 0.1)]))
    assert dets.shape == (2, 6) and dets.dtype == np.float32
    np.testing.assert_allclose(dets[0], [80, 40, 120, 60, 0.9, 0], atol=1e-5)
    np.testing.assert_allclose(dets[1], [15, 145, 25, 155, 0.6, 2], atol=1e-5)


def test_yolo_normalised_boxes_are_detected_and_scaled() -> None:
    dec = make_decoder("yolo", {}, LABELS, 200, 100)
    t = yolo_tensor([(0.5, 0.5, 0.2, 0.4, 1, 0.8)])
    t[0, :4, 1:] = 0.1  # normalised layout: every box value is small
    dets = dec.decode(t)
    np.testing.assert_allclose(dets[0], [80, 30, 120, 70, 0.8, 1], atol=1e-4)


def test_yolo_forced_units_override_auto() -> None:
    t = yolo_tensor([(1.0, 1.0, 1.0, 1.0, 0, 0.9)])
    t[0, :4, 1:] = 0.5
    as_pixels = make_decoder("yolo", {"boxes": "pixels"}, LABELS, 100, 100).decode(t)
    np.testing.assert_allclose(as_pixels[0, :4], [0.5, 0.5, 1.5, 1.5], atol=1e-5)
    as_norm = make_decoder("yolo", {"boxes": "normalized"}, LABELS, 100, 100).decode(t)
    np.testing.assert_allclose(as_norm[0, :4], [50, 50, 150, 150], atol=1e-4)


def test_yolo_transposed_layout() -> None:
    dec = make_decoder("yolo", {}, LABELS, 192, 192)
    t = yolo_tensor([(100, 50, 40, 20, 0, 0.9)])
    np.testing.assert_allclose(dec.decode(t.transpose(0, 2, 1)), dec.decode(t))


def test_yolo_nms_per_class() -> None:
    dec = make_decoder("yolo", {"iou_threshold": 0.5}, LABELS, 192, 192)
    # Two overlapping fire boxes (one goes) and a smoke box on the same spot (stays: another class).
    dets = dec.decode(yolo_tensor([(100, 100, 40, 40, 0, 0.9), (102, 101, 40, 40, 0, 0.7), (100, 100, 40, 40, 1, 0.6)]))
    assert dets[:, 5].tolist() == [0.0, 1.0]
    assert dets[:, 4].tolist() == pytest.approx([0.9, 0.6])


def test_yolo_wrong_shape_is_an_error() -> None:
    dec = make_decoder("yolo", {}, LABELS, 192, 192)
    with pytest.raises(ValueError, match="4 \\+ 3"):
        dec.decode(np.zeros((1, 9, 30), dtype=np.float32))


def test_ssd() -> None:
    dec = make_decoder("ssd", {"label_offset": 1}, LABELS, 300, 200)
    rows = np.array(
        [
            [0, 1, 0.95, 0.1, 0.2, 0.3, 0.4],  # fire
            [0, 3, 0.60, 0.5, 0.5, 0.9, 0.9],  # flood
            [0, 2, 0.10, 0.5, 0.5, 0.6, 0.6],  # smoke, below threshold
            [0, 0, 0.99, 0.0, 0.0, 1.0, 1.0],  # background
            [-1, 0, 0, 0, 0, 0, 0],  # end marker
            [0, 1, 0.9, 0.1, 0.1, 0.2, 0.2],  # after the end marker: ignored
        ],
        dtype=np.float32,
    ).reshape(1, 1, -1, 7)
    dets = dec.decode(rows)
    np.testing.assert_allclose(dets, [[30, 40, 90, 80, 0.95, 0], [150, 100, 270, 180, 0.6, 2]], atol=1e-4)


def test_classifier_whole_input_rows() -> None:
    dec = make_decoder("classifier", {"score_threshold": 0.5}, LABELS, 64, 48)
    dets = dec.decode(np.array([[0.2, 0.7, 0.9]], dtype=np.float32))
    np.testing.assert_allclose(dets, [[0, 0, 64, 48, 0.9, 2], [0, 0, 64, 48, 0.7, 1]], atol=1e-6)


def test_classifier_softmax() -> None:
    dec = make_decoder("classifier", {"softmax": True, "score_threshold": 0.5}, LABELS, 10, 10)
    dets = dec.decode(np.array([[0.0, 0.0, 5.0]], dtype=np.float32))
    assert dets.shape == (1, 6) and dets[0, 5] == 2 and dets[0, 4] > 0.98


def test_bad_option_names_the_field() -> None:
    with pytest.raises(ValidationError, match="boxes"):
        make_decoder("yolo", {"boxes": "inches"}, LABELS, 10, 10)
    with pytest.raises(KeyError, match="no decoder 'yolov99'"):
        make_decoder("yolov99", {}, LABELS, 10, 10)


def test_nms_keeps_highest_and_disjoint() -> None:
    dets = np.array(
        [[0, 0, 10, 10, 0.5, 0], [1, 1, 11, 11, 0.9, 0], [50, 50, 60, 60, 0.4, 0], [0, 0, 10, 10, 0.3, 1]],
        dtype=np.float32,
    )
    kept = nms(dets, 0.5)
    assert kept[:, 4].tolist() == pytest.approx([0.9, 0.4, 0.3])
