"""What is new in a fixed view: detections whose score rises well above what the detector usually says there.

Kept per label on a coarse grid over the frame: each frame, a cell takes the best score of the detections covering
it (0 when none), and the usual score follows it with a long time constant. A detection counts when its score beats
the usual score under it (the median over its cells) by ``margin``. Haze that the detector calls smoke every minute
of the day is usual; a plume where the detector said nothing for an hour is not, for as long as ``memory_s`` allows.
"""

from __future__ import annotations

import numpy as np

from edge.inference.decoders import EMPTY
from wire.nodeconfig.camera import NoveltySettings


class Novelty:
    def __init__(self, settings: NoveltySettings, n_labels: int) -> None:
        self.s = settings
        self.n_labels = n_labels
        self._usual: np.ndarray | None = None  # labels x rows x cols
        self._sum: np.ndarray | None = None
        self._frames = 0
        self._started: float | None = None
        self._last: float | None = None
        self.counters = {"usual": 0}

    def _cells(self, box: np.ndarray, rows: int, cols: int) -> tuple[slice, slice]:
        """The cells under the middle half of a box: a box's edges are mostly background (haze boxes are wide and
        would otherwise claim the place of a plume beside them)."""
        c = self.s.cell
        qx, qy = (box[2] - box[0]) / 4, (box[3] - box[1]) / 4
        x1, y1 = int(max(box[0] + qx, 0) // c), int(max(box[1] + qy, 0) // c)
        x2, y2 = int(min(np.ceil((box[2] - qx) / c), cols)), int(min(np.ceil((box[3] - qy) / c), rows))
        return slice(y1, max(y2, y1 + 1)), slice(x1, max(x2, x1 + 1))

    def _scores(self, dets: np.ndarray, rows: int, cols: int) -> np.ndarray:
        out = np.zeros((self.n_labels, rows, cols), np.float32)
        for d in dets:
            k = int(d[5])
            if 0 <= k < self.n_labels:
                ys, xs = self._cells(d, rows, cols)
                np.maximum(out[k, ys, xs], d[4], out=out[k, ys, xs])
        return out

    def filter(self, dets: np.ndarray, w: int, h: int, ts: float) -> np.ndarray:
        """The detections that are new at their place; learns this frame's scores afterwards."""
        return dets[self.new(dets, w, h, ts)] if len(dets) else EMPTY

    def new(self, dets: np.ndarray, w: int, h: int, ts: float) -> np.ndarray:
        """Per detection (K x 6 rows of one frame): whether it is new at its place; learns this frame's scores."""
        rows, cols = -(-h // self.s.cell), -(-w // self.s.cell)
        now = self._scores(dets, rows, cols)
        if self._sum is None or self._sum.shape[1:] != (rows, cols):  # the first frame, or a new stream size
            self._usual, self._sum, self._frames, self._started, self._last = None, now * 0, 0, ts, ts
        assert self._started is not None and self._last is not None and self._sum is not None
        if self._usual is None:
            # Learning the view: nothing counts yet; the usual score is the mean of these frames.
            self._sum += now
            self._frames += 1
            if ts - self._started >= self.s.learn_s:
                self._usual = self._sum / self._frames
            self._last = ts
            self.counters["usual"] += len(dets)
            return np.zeros(len(dets), bool)
        keep = []
        for d in dets:
            k = int(d[5])
            ys, xs = self._cells(d, rows, cols)
            usual = float(np.median(self._usual[k, ys, xs])) if 0 <= k < self.n_labels else 0.0
            keep.append(float(d[4]) - usual >= self.s.margin)
        rate = min(1.0, max(ts - self._last, 0.0) / self.s.memory_s)
        self._usual += rate * (now - self._usual)
        self._last = ts
        kept = np.asarray(keep, bool)
        self.counters["usual"] += int((~kept).sum())
        return kept
