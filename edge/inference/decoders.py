"""Raw model outputs to detections: rows [x1, y1, x2, y2, score, class] in pixels of the model input.

Each decoder is a plugin picked by the manifest's ``decoder`` name; its ``decoder_options`` are validated by the
decoder's own options model, so a misspelt option fails at load time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from plumbing.plugins import Registry

EMPTY = np.zeros((0, 6), dtype=np.float32)


class DecoderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score_threshold: float = Field(0.25, ge=0, le=1, description="Rows below this score are dropped")
    iou_threshold: float = Field(0.45, gt=0, le=1, description="NMS overlap above which the weaker box goes")
    max_detections: int = Field(100, ge=1, le=10_000)


class Decoder(ABC):
    """Built once per loaded model; ``decode(output)`` is then called for every inference."""

    KEY: ClassVar[str]
    OPTIONS: ClassVar[type[DecoderOptions]] = DecoderOptions

    def __init__(self, options: DecoderOptions, labels: list[str], input_w: int, input_h: int) -> None:
        self.options = options
        self.labels = labels
        self.input_w = input_w
        self.input_h = input_h

    @abstractmethod
    def decode(self, output: np.ndarray) -> np.ndarray:
        """(K, 6) float32 rows [x1, y1, x2, y2, score, class], pixels of the model input, after NMS."""


DECODERS: Registry[Decoder] = Registry("decoder", docs="docs/camera.md#decoders")


def register_decoder(key: str) -> Callable[[type[Decoder]], type[Decoder]]:
    def wrap(cls: type[Decoder]) -> type[Decoder]:
        return DECODERS.register(key, cls.OPTIONS)(cls)

    return wrap


def make_decoder(key: str, options: dict[str, object], labels: list[str], input_w: int, input_h: int) -> Decoder:
    """Build a decoder; KeyError for an unknown name, pydantic ValidationError for bad options."""
    cls = DECODERS.plugin(key)
    return cls(cls.OPTIONS.model_validate(options), labels, input_w, input_h)


def nms(dets: np.ndarray, iou_threshold: float, max_detections: int = 1000) -> np.ndarray:
    """Greedy non-maximum suppression per class on (K, 6) rows; keeps the highest scores first."""
    if len(dets) <= 1:
        return dets
    order = np.argsort(-dets[:, 4], kind="stable")
    dets = dets[order]
    # Offset each class far apart so boxes of different classes never overlap: one pass does every class.
    offset = dets[:, 5:6] * (float(np.abs(dets[:, :4]).max()) + 1.0)
    boxes = dets[:, :4] + offset
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep: list[int] = []
    alive = np.ones(len(dets), dtype=bool)
    for i in range(len(dets)):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) >= max_detections:
            break
        rest = np.nonzero(alive[i + 1 :])[0] + i + 1
        if not len(rest):
            break
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        alive[rest[iou > iou_threshold]] = False
    return dets[keep]


class YoloOptions(DecoderOptions):
    boxes: Literal["auto", "pixels", "normalized"] = Field(
        "auto", description="Box units: pixels of the model input, or 0-1 (TFLite exports); auto tells them apart"
    )


@register_decoder("yolo")
class YoloDecoder(Decoder):
    """Ultralytics layout [1, 4+nc, N] (or [1, N, 4+nc]): cx, cy, w, h then per-class scores, no objectness."""

    OPTIONS = YoloOptions
    options: YoloOptions

    def decode(self, output: np.ndarray) -> np.ndarray:
        nc = len(self.labels)
        out: np.ndarray = np.asarray(output, dtype=np.float32).reshape(output.shape[-2:])
        if out.shape[0] != 4 + nc:
            if out.shape[1] != 4 + nc:
                raise ValueError(f"yolo output {list(output.shape)} has no axis of 4 + {nc} classes")
            out = out.T
        scores = out[4:]
        cls = scores.argmax(axis=0)
        best = scores[cls, np.arange(scores.shape[1])]
        sel = best >= self.options.score_threshold
        if not sel.any():
            return EMPTY
        cx, cy, w, h = out[:4, sel]
        normalized = self.options.boxes == "normalized" or (
            # Pixel boxes of any real detection reach well past 2; normalised ones never do.
            self.options.boxes == "auto" and float(np.abs(out[:4, sel]).max()) <= 2.0
        )
        if normalized:
            cx, w = cx * self.input_w, w * self.input_w
            cy, h = cy * self.input_h, h * self.input_h
        dets = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, best[sel], cls[sel].astype(np.float32)], 1)
        return nms(dets.astype(np.float32), self.options.iou_threshold, self.options.max_detections)


class SsdOptions(DecoderOptions):
    label_offset: int = Field(0, description="Subtract from the class id (1 when the model counts background as 0)")


@register_decoder("ssd")
class SsdDecoder(Decoder):
    """[1, 1, N, 7] rows [image_id, class, score, x1, y1, x2, y2] with boxes 0-1 (OpenVINO DetectionOutput)."""

    OPTIONS = SsdOptions
    options: SsdOptions

    def decode(self, output: np.ndarray) -> np.ndarray:
        rows = np.asarray(output, dtype=np.float32).reshape(-1, 7)
        ends = np.nonzero(rows[:, 0] < 0)[0]
        if len(ends):
            rows = rows[: ends[0]]  # image_id -1 ends the valid rows; what follows is padding
        cls = rows[:, 1] - self.options.label_offset
        sel = (rows[:, 2] >= self.options.score_threshold) & (cls >= 0) & (cls < len(self.labels))
        rows, cls = rows[sel], cls[sel]
        if not len(rows):
            return EMPTY
        dets = np.stack(
            [
                rows[:, 3] * self.input_w,
                rows[:, 4] * self.input_h,
                rows[:, 5] * self.input_w,
                rows[:, 6] * self.input_h,
                rows[:, 2],
                cls,
            ],
            1,
        )
        return nms(dets.astype(np.float32), self.options.iou_threshold, self.options.max_detections)


class ClassifierOptions(DecoderOptions):
    softmax: bool = Field(False, description="Apply softmax first (the model outputs logits)")


@register_decoder("classifier")
class ClassifierDecoder(Decoder):
    """[1, nc] class scores for the whole input: one row per class above threshold, box = the whole input."""

    OPTIONS = ClassifierOptions
    options: ClassifierOptions

    def decode(self, output: np.ndarray) -> np.ndarray:
        scores = np.asarray(output, dtype=np.float32).reshape(-1)
        if scores.shape[0] != len(self.labels):
            raise ValueError(f"classifier output has {scores.shape[0]} scores for {len(self.labels)} labels")
        if self.options.softmax:
            e = np.exp(scores - scores.max())
            scores = e / e.sum()
        idx = np.nonzero(scores >= self.options.score_threshold)[0]
        idx = idx[np.argsort(-scores[idx], kind="stable")][: self.options.max_detections]
        if not len(idx):
            return EMPTY
        whole = np.array([0, 0, self.input_w, self.input_h], dtype=np.float32)
        return np.array([[*whole, scores[i], i] for i in idx], dtype=np.float32)
