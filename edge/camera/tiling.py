"""Tiled inference for high-resolution cameras: which tiles to run on each frame, and one box per object after.

A forest tower's 3072x2048 frame shrunk to a 320-pixel model input makes a plume 30 pixels wide into 3: gone. Cut
into overlapping model-sized tiles, the detector sees it at native resolution. Tiles without motion are skipped
between sweeps (the costly part is the number of tiles), and a plume cut by a seam comes back as one box.
"""

from __future__ import annotations

import numpy as np

from edge.camera.motion import Box, overlapping_tiles, overlaps
from edge.inference.decoders import EMPTY, nms
from wire.nodeconfig.camera import TilingSettings


class TilePlanner:
    """The tiles of a frame size, and each frame's choice among them."""

    def __init__(self, settings: TilingSettings, model_w: int, model_h: int) -> None:
        self.settings = settings
        self.side = settings.tile or max(model_w, model_h)
        self._tiles: list[Box] = []
        self._size = (0, 0)
        self._last_sweep = -1e18
        self.counters = {"tiles": 0, "sweeps": 0}

    def tiles(self, w: int, h: int) -> list[Box]:
        if self._size != (w, h):
            self._size = (w, h)
            self._tiles = overlapping_tiles(w, h, self.side, self.settings.overlap)
        return self._tiles

    def plan(self, w: int, h: int, ts: float, motion: list[Box] | None, held: list[Box]) -> list[Box]:
        """Every tile on a sweep (or without gating); otherwise the tiles that hold motion or a live track."""
        tiles = self.tiles(w, h)
        s = self.settings
        if not s.motion_gate or motion is None or ts - self._last_sweep >= s.sweep_s:
            self._last_sweep = ts
            self.counters["sweeps"] += 1
            chosen = list(tiles)
        else:
            busy = [*motion, *held]
            chosen = [t for t in tiles if any(overlaps(t, r) for r in busy)]
        self.counters["tiles"] += len(chosen)
        return chosen


def _cut_edges(box: np.ndarray, tile: Box, frame_w: int, frame_h: int, gap: float) -> bool:
    """Whether the box reaches a side of its tile that lies inside the frame (a seam cuts it there)."""
    x1, y1, x2, y2 = tile
    return bool(
        (x1 > 0 and box[0] <= x1 + gap)
        or (y1 > 0 and box[1] <= y1 + gap)
        or (x2 < frame_w and box[2] >= x2 - gap)
        or (y2 < frame_h and box[3] >= y2 - gap)
    )


def merge_seams(
    parts: list[tuple[Box, np.ndarray]], frame_w: int, frame_h: int, gap: float, iou_threshold: float
) -> np.ndarray:
    """Detections of several tiles (each (tile, K x 6 rows)) to one set: boxes of one class from different tiles
    that overlap or lie within ``gap`` pixels, at least one cut by a seam, become their union (the best score);
    duplicates seen whole in two overlapping tiles go by NMS."""
    rows, tile_of, cut = [], [], []
    for k, (tile, dets) in enumerate(parts):
        for d in dets:
            rows.append(d)
            tile_of.append(k)
            cut.append(_cut_edges(d, tile, frame_w, frame_h, gap))
    if not rows:
        return EMPTY
    dets = np.asarray(rows, np.float32)
    parent = list(range(len(dets)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(dets)):
        for j in range(i + 1, len(dets)):
            if tile_of[i] == tile_of[j] or dets[i, 5] != dets[j, 5] or not (cut[i] or cut[j]):
                continue
            a, b = dets[i], dets[j]
            if a[0] - gap <= b[2] and b[0] - gap <= a[2] and a[1] - gap <= b[3] and b[1] - gap <= a[3]:
                parent[find(i)] = find(j)
    merged = []
    for root in sorted({find(i) for i in range(len(dets))}):
        members = dets[[i for i in range(len(dets)) if find(i) == root]]
        merged.append(
            [
                members[:, 0].min(),
                members[:, 1].min(),
                members[:, 2].max(),
                members[:, 3].max(),
                members[:, 4].max(),
                members[0, 5],
            ]
        )
    return nms(np.asarray(merged, np.float32), iou_threshold)
