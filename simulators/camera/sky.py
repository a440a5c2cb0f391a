"""The open sky of a scene as a polygon, as an installer would draw it over the camera's view (``sky:`` in the
camera config): everything above the skyline, kept a few pixels clear of the land."""

from __future__ import annotations

from itertools import pairwise

import numpy as np

from simulators.camera import scenes
from simulators.camera.spec import ClipSpec


def sky_polygon(spec: ClipSpec, columns: int = 32, clear_px: int = 3) -> list[tuple[float, float]]:
    """Polygon in 0-1 fractions: the frame's top edge, then the skyline from right to left.

    Each skyline point is the highest land pixel in its strip of columns, raised by ``clear_px``: an installer
    draws along the tops of the ridges, never into them.
    """
    scene = scenes.build(spec.scene, spec.width, spec.height, spec.seed)
    land = scene.land_mask > 0
    w, h = spec.width, spec.height
    edges = np.linspace(0, w, columns + 1).round().astype(int)
    skyline = []
    for x0, x1 in pairwise(edges):
        rows = np.flatnonzero(land[:, x0:x1].any(axis=1))
        top = int(rows[0]) if len(rows) else h
        skyline.append(max(0, top - clear_px))
    points = [(0.0, 0.0), (1.0, 0.0)]
    for i in range(columns - 1, -1, -1):
        y = round(skyline[i] / (h - 1), 4)
        points += [(round(edges[i + 1] / (w - 1), 4), y), (round(edges[i] / (w - 1), 4), y)]
    return [(min(1.0, x), min(1.0, y)) for x, y in points]
