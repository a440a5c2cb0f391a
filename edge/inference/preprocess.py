"""Frame to model tensor (letterbox or stretch) and model boxes back to frame pixels."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.inference.manifest import InputSpec

PAD_VALUE = 114  # Ultralytics' letterbox grey; a neutral pad the detector has seen in training


@dataclass(frozen=True)
class Transform:
    """How model-input pixels map back to source-frame pixels: frame = (model - pad) / scale + offset."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    offset_x: float = 0.0
    offset_y: float = 0.0

    def to_frame(self, boxes: np.ndarray, frame_w: int | None = None, frame_h: int | None = None) -> np.ndarray:
        """Map rows [x1, y1, x2, y2, ...] from model input to frame pixels (a copy), clipped to the frame."""
        out = boxes.astype(np.float32, copy=True)
        if not len(out):
            return out
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale_x + self.offset_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale_y + self.offset_y
        if frame_w is not None and frame_h is not None:
            out[:, [0, 2]] = out[:, [0, 2]].clip(0, frame_w)
            out[:, [1, 3]] = out[:, [1, 3]].clip(0, frame_h)
        return out


def fit(image: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, Transform]:
    """Resize a BGR image to the model's input size; letterbox keeps the aspect and pads, stretch does not."""
    h, w = image.shape[:2]
    if spec.resize == "stretch":
        sx, sy = spec.width / w, spec.height / h
        out = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR)
        return out, Transform(sx, sy, 0.0, 0.0)
    s = min(spec.width / w, spec.height / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    px, py = (spec.width - nw) // 2, (spec.height - nh) // 2
    out = np.full((spec.height, spec.width, 3), PAD_VALUE, dtype=np.uint8)
    out[py : py + nh, px : px + nw] = resized
    return out, Transform(nw / w, nh / h, float(px), float(py))


def to_tensor(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """A fitted BGR uint8 image to the model's tensor: pixel order, dtype, normalisation, layout, batch of 1."""
    if spec.pixel_format == "RGB":
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if spec.dtype == "uint8":
        tensor = image
    else:
        tensor = image.astype(np.float32)
        if any(spec.mean):
            tensor -= np.asarray(spec.mean, dtype=np.float32)
        tensor *= np.float32(1.0 / spec.scale)
    if spec.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None])


def prepare(
    frame: np.ndarray, spec: InputSpec, roi: tuple[int, int, int, int] | None = None
) -> tuple[np.ndarray, Transform]:
    """Crop ``roi`` (x1, y1, x2, y2 in frame pixels) or take the whole frame, and make the model's tensor."""
    ox = oy = 0
    if roi is not None:
        x1, y1, x2, y2 = roi
        frame = frame[y1:y2, x1:x2]
        ox, oy = x1, y1
    fitted, t = fit(frame, spec)
    return to_tensor(fitted, spec), Transform(t.scale_x, t.scale_y, t.pad_x, t.pad_y, float(ox), float(oy))
