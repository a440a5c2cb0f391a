"""The water-line rule: flood on a river or dam camera as water climbing into the band above the alarm line.

The band (drawn at installation, its bottom edge on the alarm line) is learnt while dry; afterwards each row of the
band counts as under water when most of its pixels no longer look like the dry band, and the water's height is the
run of such rows from the band's bottom edge up: water rises from below, a passing shadow or a car on the bank does
not fill the band from its bottom, and a change faster than any river rises (a shadow, the IR switch) makes the
rule learn the band's dry look again.
Its output is an ordinary detection row, so confirmation, events and snapshots treat it like the model's boxes.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.camera.motion import polygon_mask
from wire.nodeconfig.camera import WaterlineSettings


class Waterline:
    def __init__(self, settings: WaterlineSettings, label_index: int) -> None:
        self.s = settings
        self.label_index = label_index
        self._size = (0, 0)
        self._mask: np.ndarray | None = None
        self._box = (0, 0, 0, 0)
        self._dry: np.ndarray | None = None
        self._learn: list[np.ndarray] = []
        self._learn_from = 0.0
        self._last_ts: float | None = None
        self._score = 0.0
        self.wet_share = 0.0  # the water's height in the band, 0-1
        self.counters = {"relearned": 0}

    def _setup(self, w: int, h: int) -> None:
        assert self.s.band is not None
        self._size = (w, h)
        mask = polygon_mask([self.s.band], w, h)
        ys, xs = np.nonzero(mask)
        if not len(ys):
            raise ValueError("waterline.band covers no pixel of the frame")
        self._box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        x1, y1, x2, y2 = self._box
        self._mask = mask[y1:y2, x1:x2] > 0
        self._restart(0.0)

    @property
    def band_box(self) -> tuple[int, int, int, int]:
        """The band's bounding box in frame pixels (after the first frame)."""
        return self._box

    def _restart(self, ts: float) -> None:
        self._dry, self._learn, self._learn_from, self._last_ts = None, [], ts, None

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = self._box
        crop = cv2.cvtColor(frame[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
        return cv2.GaussianBlur(crop, (5, 5), 0).astype(np.float32)

    def update(self, frame: np.ndarray, ts: float) -> np.ndarray:
        """This frame's flood row ([x1, water top, x2, band bottom, score, class]) or no row."""
        h, w = frame.shape[:2]
        if self._size != (w, h):
            self._setup(w, h)
            self._learn_from = ts
        grey = self._grey(frame)
        if self._dry is None:
            self._learn.append(grey)
            if ts - self._learn_from >= self.s.learn_s:
                self._dry = np.median(np.stack(self._learn), axis=0).astype(np.float32)
                self._learn = []
            return np.zeros((0, 6), np.float32)
        assert self._mask is not None
        changed = (np.abs(grey - self._dry) > self.s.change) & self._mask
        per_row = changed.sum(axis=1) / np.maximum(self._mask.sum(axis=1), 1)
        rows = len(per_row)
        wet_rows = 0
        for row_share in per_row[::-1]:  # from the band's bottom edge (the alarm line) up
            if row_share < self.s.row_share:
                break
            wet_rows += 1
        # Dry pixels follow the light slowly; changed ones (water, a shadow) keep the dry look they had.
        if self.s.adapt > 0:
            dry = self._mask & ~changed
            self._dry[dry] += self.s.adapt * (grey[dry] - self._dry[dry])
        dt = ts - self._last_ts if self._last_ts is not None else 0.0
        self._last_ts = ts
        share = wet_rows / rows
        # Three rows of slack: the blur spreads a water line over two.
        if share - self.wet_share > max(self.s.max_rise_per_s * dt, 3.5 / rows):
            # Water climbs a row at a time; a change that fills the band at once is a shadow, a floodlight or the IR
            # switch: the band's dry look is learnt again from this frame on.
            self.counters["relearned"] += 1
            self._restart(ts)
            self._learn.append(grey)
            self.wet_share = 0.0
            return np.zeros((0, 6), np.float32)
        self.wet_share = share
        if wet_rows:
            self._score = float(changed[-wet_rows:].sum() / max(self._mask[-wet_rows:].sum(), 1))
        if self.wet_share < self.s.min_rise:
            return np.zeros((0, 6), np.float32)
        x1, _, x2, y2 = self._box
        top = y2 - round(self.wet_share * rows)
        return np.array([[x1, top, x2, y2, min(1.0, self._score), self.label_index]], np.float32)
