"""The detector: a small fully-convolutional Keras network on a 12 x 12 grid, its in-model decoding and its loss."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from fire_smoke.dataset import INPUT_SIZE, LABELS

NC = len(LABELS)
STRIDE = 16
GRID = INPUT_SIZE // STRIDE
N_CELLS = GRID * GRID
# A cell predicts its box's centre as an offset from its own centre (in strides, at most MAX_REACH), so a cell deep
# inside a wide flood area can still point at the area's middle, and its width and height as fractions of the input.
MAX_REACH = 8.0
_CENTRES = ((np.arange(GRID, dtype=np.float32) + 0.5) * STRIDE).astype(np.float32)
CELL_X = np.tile(_CENTRES, GRID)  # row-major cells: index = gy * GRID + gx
CELL_Y = np.repeat(_CENTRES, GRID)
# Keras' default 0.99 leaves the moving variance far from the data after a few hundred steps (tiny budgets, short runs).
BN_MOMENTUM = 0.9


def _conv(x: tf.Tensor, filters: int, stride: int, name: str) -> tf.Tensor:
    x = tf.keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return tf.keras.layers.ReLU(6.0, name=f"{name}_relu")(x)


def _sepconv(x: tf.Tensor, filters: int, stride: int, name: str) -> tf.Tensor:
    x = tf.keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dwbn")(x)
    x = tf.keras.layers.ReLU(6.0, name=f"{name}_dwrelu")(x)
    x = tf.keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = tf.keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_pwbn")(x)
    return tf.keras.layers.ReLU(6.0, name=f"{name}_pwrelu")(x)


def build_backbone(width: int = 1) -> tf.keras.Model:
    """Image in [0, 1] (1 x 192 x 192 x 3) to the raw head: 12 x 12 x (4 distances + NC class logits)."""
    inp = tf.keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    c = [16 * width, 32 * width, 64 * width, 128 * width]
    x = _conv(inp, c[0], 2, "s1")  # 96
    x = _conv(x, c[1], 2, "s2")  # 48
    x = _sepconv(x, c[1], 1, "s2b")
    x = _conv(x, c[2], 2, "s3")  # 24
    x = _sepconv(x, c[2], 1, "s3b")
    x = _sepconv(x, c[2], 1, "s3c")
    x = _conv(x, c[3], 2, "s4")  # 12
    x = _sepconv(x, c[3], 1, "s4b")
    x = _sepconv(x, c[3], 1, "s4c")
    prior = float(-np.log((1 - 0.01) / 0.01))  # class bias so that early training starts at p = 0.01 (RetinaNet)
    box = tf.keras.layers.Conv2D(4, 1, name="box")(x)
    cls = tf.keras.layers.Conv2D(NC, 1, bias_initializer=tf.keras.initializers.Constant(prior), name="cls")(x)
    out = tf.keras.layers.Concatenate(name="head")([box, cls])
    return tf.keras.Model(inp, out, name="fire_smoke_backbone")


def decode_xyxy(head: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Raw head (B x 12 x 12 x 7) to boxes (B x N x 4, x1 y1 x2 y2 in input pixels) and class logits (B x N x NC)."""
    flat = tf.reshape(head, (-1, N_CELLS, 4 + NC))
    # tanh bounds the reach (MAX_REACH strides, enough to cross half the input) so no step can blow a box up.
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

    A cell is positive for a class when its centre lies inside a box of that class or within one stride of the box's
    centre (so a box smaller than a cell still gets a few cells). A cell positive for several boxes regresses the
    smallest one.
    """
    out = np.zeros((len(boxes), N_CELLS, NC + 5), np.float32)
    for i, rows in enumerate(boxes):
        best_area = np.full(N_CELLS, np.inf, np.float32)
        for cls, x1, y1, x2, y2 in rows:
            inside = (x1 < CELL_X) & (x2 > CELL_X) & (y1 < CELL_Y) & (y2 > CELL_Y)
            inside |= (np.abs(CELL_X - (x1 + x2) / 2) <= STRIDE) & (np.abs(CELL_Y - (y1 + y2) / 2) <= STRIDE)
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
    cx1, cy1 = tf.minimum(a[..., 0], b[..., 0]), tf.minimum(a[..., 1], b[..., 1])
    cx2, cy2 = tf.maximum(a[..., 2], b[..., 2]), tf.maximum(a[..., 3], b[..., 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-6
    iou = inter / union
    return iou - (hull - union) / hull


def loss(head: tf.Tensor, target: tf.Tensor, gamma: float = 0.0, alpha: float = 0.5) -> dict[str, tf.Tensor]:
    """Focal loss on every cell and class, GIoU + L1 box loss on positive cells; both per positive cell.

    The default gamma 0 makes it plain (halved) cross-entropy: scores stay calibrated probabilities, so the edge's usual
    0.5 minimum score means what it says.
    """
    xyxy, logits = decode_xyxy(head)
    cls_t = target[..., :NC]
    pos = target[..., NC + 4]
    n_pos = tf.maximum(tf.reduce_sum(pos), 1.0)
    p = tf.sigmoid(logits)
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=cls_t, logits=logits)
    p_t = cls_t * p + (1 - cls_t) * (1 - p)
    a_t = cls_t * alpha + (1 - cls_t) * (1 - alpha)
    # x ** 0 has a NaN gradient at x = 0 (a saturated score), so plain cross-entropy skips the modulating factor.
    weight = a_t if gamma == 0 else a_t * tf.maximum(1.0 - p_t, 1e-6) ** gamma
    focal = tf.reduce_sum(weight * ce) / n_pos
    # Box losses only on positive cells, selected before computing them: an empty target box elsewhere must not be able
    # to put a NaN into the gradient (NaN * 0 is still NaN).
    is_pos = pos > 0.5
    box_p = tf.boolean_mask(xyxy, is_pos)
    box_t = tf.boolean_mask(target[..., NC : NC + 4], is_pos)
    giou = tf.reduce_sum(1.0 - _giou(box_p, box_t)) / n_pos
    l1 = tf.reduce_sum(tf.abs(box_p - box_t)) / n_pos / INPUT_SIZE
    return {"cls": focal, "giou": giou, "l1": l1, "total": focal + 2.0 * giou + 2.0 * l1}
