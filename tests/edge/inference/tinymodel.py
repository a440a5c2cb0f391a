"""A tiny, hand-wired "detector" built with Keras and exported to TFLite and OpenVINO IR, for backend tests.

It is not trained: its weights are set so that it finds saturated red squares ("fire") and saturated blue ones
("flood") on a 4x4 grid of a 64x64 input, with Ultralytics' output layout [1, 4+nc, N]. That makes its detections
predictable, so tests can assert where they are, and both backends must agree on them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SIZE = 64
GRID = 4
LABELS = ["fire", "smoke", "flood"]


def _boxes(normalized: bool) -> np.ndarray:
    cell = SIZE / GRID
    rows = []
    for gy in range(GRID):
        for gx in range(GRID):
            rows.append([(gx + 0.5) * cell, (gy + 0.5) * cell, cell, cell])
    b = np.array(rows, dtype=np.float32).T  # (4, N)
    return b / SIZE if normalized else b


def build(out_dir: Path, normalized: bool = False) -> Path:
    """Write tiny.tflite, tiny.xml/.bin and manifest.yaml into ``out_dir``; return the manifest path."""
    manifest = out_dir / "manifest.yaml"
    if manifest.exists():
        return manifest
    out_dir.mkdir(parents=True, exist_ok=True)
    import openvino as ov
    import tensorflow as tf

    keras = tf.keras
    n = GRID * GRID
    nc = len(LABELS)
    inp = keras.Input((SIZE, SIZE, 3), batch_size=1)
    pooled = keras.layers.AveragePooling2D(SIZE // GRID)(inp)  # (1, 4, 4, 3): mean R, G, B per cell
    score_conv = keras.layers.Conv2D(nc, 1, activation="sigmoid")
    scores = score_conv(pooled)  # (1, 4, 4, nc)
    scores = keras.layers.Permute((2, 1))(keras.layers.Reshape((n, nc))(scores))  # (1, nc, n)
    flat = keras.layers.Flatten()(pooled)
    box_dense = keras.layers.Dense(4 * n)
    boxes = keras.layers.Reshape((4, n))(box_dense(flat))  # constant: the grid's cells
    out = keras.layers.Concatenate(axis=1)([boxes, scores])
    model = keras.Model(inp, out)
    # Scores: fire = sigmoid(20 * (R - G - B) - 6); smoke never fires; flood = sigmoid(20 * (B - R - G) - 6).
    w = np.zeros((1, 1, 3, nc), dtype=np.float32)
    w[0, 0, :, 0] = [20, -20, -20]
    w[0, 0, :, 2] = [-20, -20, 20]
    score_conv.set_weights([w, np.array([-6.0, -30.0, -6.0], dtype=np.float32)])
    box_dense.set_weights([np.zeros((3 * n, 4 * n), dtype=np.float32), _boxes(normalized).reshape(-1)])
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    (out_dir / "tiny.tflite").write_bytes(tflite)
    ov_model = ov.convert_model(str(out_dir / "tiny.tflite"))
    ov.save_model(ov_model, str(out_dir / "tiny.xml"))
    files = {
        name: hashlib.sha256((out_dir / name).read_bytes()).hexdigest()
        for name in ("tiny.tflite", "tiny.xml", "tiny.bin")
    }
    manifest.write_text(
        "name: tiny-test\n"
        'version: "1"\n'
        "synthetic: true\n"
        "task: detect\n"
        f"labels: [{', '.join(LABELS)}]\n"
        f"input: {{width: {SIZE}, height: {SIZE}, layout: NHWC, pixel_format: RGB, dtype: float32, scale: 255.0}}\n"
        "decoder: yolo\n"
        "decoder_options: {boxes: auto, score_threshold: 0.3}\n"
        f"output_shape: [1, {4 + nc}, {n}]\n"
        "files:\n"
        + "".join(f"  {k}: {v}\n" for k, v in files.items())
        + "backends:\n  openvino: tiny.xml\n  litert: tiny.tflite\n"
    )
    return manifest


def red_square_frame(w: int = 320, h: int = 240, box: tuple[int, int, int, int] = (100, 60, 180, 140)) -> np.ndarray:
    frame = np.full((h, w, 3), 90, dtype=np.uint8)
    x1, y1, x2, y2 = box
    frame[y1:y2, x1:x2] = (0, 0, 255)  # BGR red
    return frame
