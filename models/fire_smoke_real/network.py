"""The detector: EfficientNet-Lite0 (ImageNet weights) with a small two-level neck and an anchor-free grid head.

Every cell of the stride-16 grid predicts one box (its centre as a bounded offset from the cell, its size as a share
of the input) and a score per class. The decoding runs inside the exported model, which outputs the contract's
Ultralytics layout (1 x (4 + nc) x cells, pixels and sigmoid scores), so the edge's ``yolo`` decoder reads it.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fire_smoke_real import backbone

LABELS = ("fire", "smoke")
NC = len(LABELS)
INPUT_SIZE = 320
STRIDE = 16
GRID = INPUT_SIZE // STRIDE
N_CELLS = GRID * GRID
MAX_REACH = 4.0  # strides a cell's box centre may lie from the cell's own centre
NECK = 96
_CENTRES = ((np.arange(GRID, dtype=np.float32) + 0.5) * STRIDE).astype(np.float32)
CELL_X = np.tile(_CENTRES, GRID)  # row-major cells: index = gy * GRID + gx
CELL_Y = np.repeat(_CENTRES, GRID)
# The first stages (stride 2 and 4: edges and colour blobs) keep their ImageNet weights: they are the costliest to
# train on a CPU and gain least from a thousand images.
FROZEN_BLOCKS = 3


def _sep(x: tf.Tensor, name: str) -> tf.Tensor:
    x = tf.keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_dwbn")(x)
    x = tf.keras.layers.Conv2D(NECK, 1, use_bias=False, name=f"{name}_pw")(x)
    x = tf.keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_pwbn")(x)
    return tf.keras.layers.ReLU(6.0, name=f"{name}_relu")(x)


def build(imagenet: dict[str, np.ndarray] | None = None) -> tf.keras.Model:
    """Image in [0, 1] (1 x 320 x 320 x 3) to the raw head: GRID x GRID x (4 + NC)."""
    base = backbone.build(INPUT_SIZE, momentum=0.9)
    if imagenet is not None:
        backbone.load_imagenet(base, imagenet)
    s16, s32 = base.outputs
    lat16 = tf.keras.layers.Conv2D(NECK, 1, name="neck_lat16")(s16)
    lat32 = tf.keras.layers.Conv2D(NECK, 1, name="neck_lat32")(s32)
    up = tf.keras.layers.UpSampling2D(2, interpolation="nearest", name="neck_up")(lat32)
    x = tf.keras.layers.Add(name="neck_add")([lat16, up])
    x = _sep(x, "head1")
    x = _sep(x, "head2")
    prior = float(-np.log((1 - 0.01) / 0.01))  # scores start at p = 0.01 (RetinaNet), so early steps stay stable
    box = tf.keras.layers.Conv2D(4, 1, name="box")(x)
    cls = tf.keras.layers.Conv2D(NC, 1, bias_initializer=tf.keras.initializers.Constant(prior), name="cls")(x)
    out = tf.keras.layers.Concatenate(name="head")([box, cls])
    return tf.keras.Model(base.input, out, name="fire_smoke_real")


def frozen_layer_names(model: tf.keras.Model) -> list[str]:
    """The layers that keep their ImageNet weights throughout (the stem and the first FROZEN_BLOCKS blocks)."""
    early = ("stem", *tuple(f"b{i}_" for i in range(FROZEN_BLOCKS)))
    return [layer.name for layer in model.layers if layer.name.startswith(early)]


def decode_xyxy(head: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Raw head (B x GRID x GRID x (4 + NC)) to boxes (B x N x 4, x1 y1 x2 y2 in input pixels) and class logits."""
    flat = tf.reshape(head, (-1, N_CELLS, 4 + NC))
    cx = CELL_X + tf.tanh(flat[..., 0] / MAX_REACH) * (MAX_REACH * STRIDE)
    cy = CELL_Y + tf.tanh(flat[..., 1] / MAX_REACH) * (MAX_REACH * STRIDE)
    half_w = tf.sigmoid(flat[..., 2]) * (INPUT_SIZE / 2)
    half_h = tf.sigmoid(flat[..., 3]) * (INPUT_SIZE / 2)
    return tf.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1), flat[..., 4:]


def ultralytics_output(head: tf.Tensor) -> tf.Tensor:
    """Raw head to the contract's output: 1 x (4 + NC) x N with cx, cy, w, h in pixels and sigmoid scores."""
    xyxy, logits = decode_xyxy(head)
    cx = (xyxy[..., 0] + xyxy[..., 2]) * 0.5
    cy = (xyxy[..., 1] + xyxy[..., 3]) * 0.5
    w = xyxy[..., 2] - xyxy[..., 0]
    h = xyxy[..., 3] - xyxy[..., 1]
    rows = tf.concat([tf.stack([cx, cy, w, h], axis=-1), tf.sigmoid(logits)], axis=-1)
    return tf.transpose(rows, (0, 2, 1))


def targets(boxes: list[np.ndarray]) -> np.ndarray:
    """Per-cell targets (B x N x (NC + 5)): class indicators, then the assigned box x1..y2 and a positive flag.

    A cell is positive for a class when its centre lies in the middle half of a box of that class (the box's edges
    are often background: a plume thins out, flames are ragged) or within one stride of the box's centre, so that a
    box smaller than a cell still gets a few cells. A cell positive for several boxes regresses the smallest one.
    """
    out = np.zeros((len(boxes), N_CELLS, NC + 5), np.float32)
    for i, rows in enumerate(boxes):
        best_area = np.full(N_CELLS, np.inf, np.float32)
        for cls, x1, y1, x2, y2 in rows:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            qx, qy = (x2 - x1) / 4, (y2 - y1) / 4
            inside = (np.abs(CELL_X - mx) < qx) & (np.abs(CELL_Y - my) < qy)
            inside |= (np.abs(CELL_X - mx) <= STRIDE) & (np.abs(CELL_Y - my) <= STRIDE)
            out[i, inside, int(cls)] = 1.0
            area = (x2 - x1) * (y2 - y1)
            take = inside & (area < best_area)
            best_area[take] = area
            out[i, take, NC : NC + 4] = (x1, y1, x2, y2)
            out[i, take, NC + 4] = 1.0
    return out


def _giou(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    ix1, iy1 = tf.maximum(a[..., 0], b[..., 0]), tf.maximum(a[..., 1], b[..., 1])
    ix2, iy2 = tf.minimum(a[..., 2], b[..., 2]), tf.minimum(a[..., 3], b[..., 3])
    inter = tf.maximum(ix2 - ix1, 0.0) * tf.maximum(iy2 - iy1, 0.0)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter + 1e-6
    hull_w = tf.maximum(a[..., 2], b[..., 2]) - tf.minimum(a[..., 0], b[..., 0])
    hull_h = tf.maximum(a[..., 3], b[..., 3]) - tf.minimum(a[..., 1], b[..., 1])
    hull = hull_w * hull_h + 1e-6
    return inter / union - (hull - union) / hull


def loss(head: tf.Tensor, target: tf.Tensor, gamma: float = 0.0, alpha: float = 0.5) -> dict[str, tf.Tensor]:
    """Focal loss on every cell and class, GIoU + L1 box loss on positive cells; all per positive cell.

    The default gamma 0 is plain (weighted) cross-entropy: the scores stay calibrated probabilities, which the edge's
    confirmation thresholds (min_score 0.5, median 0.8) assume.
    """
    xyxy, logits = decode_xyxy(head)
    cls_t = target[..., :NC]
    pos = target[..., NC + 4]
    n_pos = tf.maximum(tf.reduce_sum(pos), 1.0)
    p = tf.sigmoid(logits)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=cls_t, logits=logits)
    p_t = cls_t * p + (1 - cls_t) * (1 - p)
    a_t = cls_t * alpha + (1 - cls_t) * (1 - alpha)
    # x ** 0 has a NaN gradient at x = 0; gamma 0 (plain cross-entropy, calibrated scores) skips the factor.
    weight = a_t if gamma == 0 else a_t * tf.maximum(1.0 - p_t, 1e-6) ** gamma
    focal = tf.reduce_sum(weight * ce) / n_pos
    # Box losses only on positive cells, selected first: an empty target elsewhere must not put a NaN in the gradient.
    is_pos = pos > 0.5
    box_p = tf.boolean_mask(xyxy, is_pos)
    box_t = tf.boolean_mask(target[..., NC : NC + 4], is_pos)
    giou = tf.reduce_sum(1.0 - _giou(box_p, box_t)) / n_pos
    l1 = tf.reduce_sum(tf.abs(box_p - box_t)) / n_pos / INPUT_SIZE
    return {"cls": focal, "giou": giou, "l1": l1, "total": focal + 2.0 * giou + 2.0 * l1}
