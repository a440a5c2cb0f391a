"""The band above a water scene's alarm line, as an installer would draw it for the camera's water-line rule
(``waterline.band`` in the camera config): a strip of dry bank whose bottom edge sits just above the painted line."""

from __future__ import annotations

from simulators.camera import scenes
from simulators.camera.spec import ClipSpec


def alarm_band(spec: ClipSpec, rows_px: int = 20, clear_px: int = 3) -> list[tuple[float, float]] | None:
    """Polygon in 0-1 fractions, or None for a scene without water. ``clear_px`` keeps the painted line out."""
    scene = scenes.build(spec.scene, spec.width, spec.height, spec.seed)
    water = scene.water
    if water is None:
        return None
    w, h = spec.width, spec.height
    bottom = (water.alarm_y - clear_px) / (h - 1)
    top = (water.alarm_y - clear_px - rows_px) / (h - 1)
    x1, x2 = water.x1 / (w - 1), min(1.0, water.x2 / (w - 1))
    return [
        (round(x1, 4), round(top, 4)),
        (round(x2, 4), round(top, 4)),
        (round(x2, 4), round(bottom, 4)),
        (round(x1, 4), round(bottom, 4)),
    ]
