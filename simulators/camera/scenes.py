"""The three static scenes (forest hillside, river bank, dam spillway), painted once per clip from its seed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import cv2
import numpy as np

from simulators.camera import paint, sprites
from simulators.camera.noise import rng_for, tile2


@dataclass
class Road:
    """Where vehicles drive: the rows of the two lanes (wheel line) and a vehicle's length in pixels."""

    lanes: tuple[int, int]
    length: int


@dataclass
class Water:
    """The water surface: its normal top row, the alarm line's row and its horizontal extent."""

    base_y: int
    alarm_y: int
    x1: int
    x2: int
    texture_a: np.ndarray  # 2x2-tiled uint8 BGR, scrolled one way
    texture_b: np.ndarray  # and this one the other way, so the ripples move


@dataclass
class Scene:
    name: str
    width: int
    height: int
    sky: np.ndarray  # (H, W, 3) uint8: sky without clouds
    land: np.ndarray  # (H, W, 3) uint8: everything that is not sky
    land_mask: np.ndarray  # (H, W) uint8, 255 where land
    sky_rows: int  # no sky below this row
    sun: tuple[int, int]
    bird_band: tuple[int, int]
    fog_y: int
    road: Road | None = None
    water: Water | None = None
    sprites: list[sprites.Sprite] = field(default_factory=list)


def _sprite(bgra: np.ndarray, x: float, y: float, sway: float, rng: np.random.Generator) -> sprites.Sprite:
    return sprites.Sprite(bgra, int(x), int(y), sway, float(rng.uniform(0.25, 0.45)), float(rng.uniform(0, 6.28)))


def _road(land: np.ndarray, rng: np.random.Generator, y0: int, y1: int, dash: bool) -> None:
    w = land.shape[1]
    land[y0:y1] = paint.asphalt(rng, y1 - y0, w).clip(0, 255).astype(np.uint8)
    cv2.line(land, (0, y0), (w, y0), (150, 150, 150), 1)
    if dash:
        mid = (y0 + y1) // 2
        step = max(8, w // 20)
        for x in range(0, w, step):
            cv2.line(land, (x, mid), (x + step // 2, mid), (200, 215, 220), max(1, (y1 - y0) // 12))


def _finish(name: str, sky: np.ndarray, land: np.ndarray, is_land: np.ndarray, **kw: object) -> Scene:
    h, w = land.shape[:2]
    rows = np.where((~is_land).any(axis=1))[0]
    return Scene(
        name=name,
        width=w,
        height=h,
        sky=sky,
        land=land,
        land_mask=(is_land.astype(np.uint8) * 255),
        sky_rows=int(rows.max()) + 1 if len(rows) else 0,
        **kw,  # type: ignore[arg-type]
    )


def forest(w: int, h: int, seed: int) -> Scene:
    """A forested hillside in layers under the sky, a road across the foreground and two trees close to the camera."""
    rng = rng_for(seed, "scene", "forest")
    s = h / 360.0
    sky = paint.sky_gradient(h, w)
    land = np.zeros((h, w, 3), np.uint8)
    is_land = np.zeros((h, w), bool)
    layers = [
        (0.30, 0.06, (150, 130, 105), 2.5 * s, 0.35),
        (0.42, 0.07, (70, 112, 72), 4.0 * s, 0.2),
        (0.55, 0.06, (45, 98, 52), 7.0 * s, 0.0),
    ]
    for base, amp, color, crown, haze in layers:
        line = paint.ridge_line(rng, w, base * h, amp * h)
        if base > 0.5:  # the near hillside rises to the left
            line = line - (np.linspace(0.06, -0.04, w) * h).astype(np.int32)
        is_land |= paint.paint_below(land, line, rng, color, crown, haze)
    verge = paint.shaded(rng, h, w, (55, 125, 95), 0.2)
    y_road0, y_road1 = int(0.84 * h), int(0.93 * h)
    land[int(0.8 * h) :] = verge[int(0.8 * h) :].astype(np.uint8)
    _road(land, rng, y_road0, y_road1, dash=True)
    trees = [
        _sprite(sprites.conifer(rng, int(0.15 * w), int(0.62 * h)), -0.03 * w, 0.38 * h, 0.05, rng),
        _sprite(sprites.broadleaf(rng, int(0.2 * w), int(0.6 * h)), 0.86 * w, 0.4 * h, 0.04, rng),
    ]
    return _finish(
        "forest",
        sky,
        land,
        is_land,
        sun=(int(0.84 * w), int(0.07 * h)),
        bird_band=(int(0.04 * h), int(0.3 * h)),
        fog_y=int(0.47 * h),
        road=Road(lanes=(int(0.875 * h), int(0.915 * h)), length=int(0.1 * w)),
        sprites=trees,
    )


def _alarm_line(land: np.ndarray, y: int, x0: int, x1: int, s: float, label: str) -> None:
    """A red line edged in white: the white keeps it visible to an IR camera at night, where red turns grey."""
    edge = max(1, int(1.5 * s)) + 1
    cv2.rectangle(land, (x0, y - edge - 1), (x1, y + edge + 1), (235, 235, 235), -1)
    cv2.rectangle(land, (x0, y - max(1, int(1.5 * s))), (x1, y + max(1, int(1.5 * s))), (30, 30, 210), -1)
    cv2.putText(land, label, (x0 + int(8 * s), y - int(4 * s)), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * s, (30, 30, 200), 1)


def _staff_gauge(land: np.ndarray, x: int, y0: int, y1: int, s: float) -> None:
    """A white staff gauge with black E-shaped marks every tenth of a metre (and red ones above the alarm)."""
    bw = max(6, int(14 * s))
    cv2.rectangle(land, (x, y0), (x + bw, y1), (235, 238, 238), -1)
    step = max(4, int(8 * s))
    for i, y in enumerate(range(y0 + 2, y1, step)):
        color = (30, 30, 200) if (i // 5) % 2 == 0 else (25, 25, 25)
        cv2.rectangle(land, (x + 1, y), (x + bw // 2, y + step // 3), color, -1)
        if i % 5 == 0:
            cv2.rectangle(land, (x + 1, y), (x + bw - 2, y + max(1, step // 4)), color, -1)


def river(w: int, h: int, seed: int) -> Scene:
    """Across a river: hills and a tree line, a road on the far bank, a revetted embankment with a staff gauge and a
    red alarm line, the water, and reeds on the near bank."""
    rng = rng_for(seed, "scene", "river")
    s = h / 360.0
    sky = paint.sky_gradient(h, w)
    land = np.zeros((h, w, 3), np.uint8)
    hills = paint.paint_below(land, paint.ridge_line(rng, w, 0.17 * h, 0.05 * h), rng, (140, 145, 125), 2.5 * s, 0.45)
    trees = paint.paint_below(land, paint.ridge_line(rng, w, 0.26 * h, 0.03 * h, 1.2), rng, (45, 95, 50), 5.0 * s)
    is_land = hills | trees
    y_road0, y_road1 = int(0.31 * h), int(0.345 * h)
    _road(land, rng, y_road0, y_road1, dash=False)
    grass_y = int(0.40 * h)
    land[y_road1:grass_y] = paint.shaded(rng, grass_y - y_road1, w, (60, 130, 100), 0.25).astype(np.uint8)
    wall = paint.concrete(rng, h - grass_y, w, (150, 158, 160))
    blocks = np.zeros((h - grass_y, w), np.uint8)
    step = max(8, int(22 * s))
    for k in range(-h, w + h, step):  # revetment blocks laid diagonally
        cv2.line(blocks, (k, 0), (k + h, h), 255, 1)
        cv2.line(blocks, (k, h), (k + h, 0), 255, 1)
    wall[blocks > 0] *= 0.75
    land[grass_y:] = wall.clip(0, 255).astype(np.uint8)
    alarm_y = int(0.56 * h)
    _alarm_line(land, alarm_y, 0, w, s, "BD3")
    _staff_gauge(land, int(0.70 * w), int(0.42 * h), h, s)
    water = Water(
        base_y=int(0.70 * h),
        alarm_y=alarm_y,
        x1=0,
        x2=w,
        texture_a=_water(rng, h, w, (75, 105, 115)),
        texture_b=_water(rng, h, w, (75, 105, 115)),
    )
    plants = [_sprite(sprites.reeds(rng, int(0.24 * w), int(0.3 * h)), 0, 0.72 * h, 0.12, rng)]
    return _finish(
        "river",
        sky,
        land,
        is_land,
        sun=(int(0.12 * w), int(0.05 * h)),
        bird_band=(int(0.03 * h), int(0.22 * h)),
        fog_y=int(0.24 * h),
        road=Road(lanes=(int(0.325 * h), int(0.34 * h)), length=int(0.045 * w)),
        water=water,
        sprites=plants,
    )


def _water(rng: np.random.Generator, h: int, w: int, color: tuple[int, int, int]) -> np.ndarray:
    return tile2(paint.water_texture(rng, h, w, color))


def dam(w: int, h: int, seed: int) -> Scene:
    """A dam seen from the reservoir: mountains, the crest road, the spillway gates between piers, the concrete face
    with its level scale and red alarm line, and the reservoir water."""
    rng = rng_for(seed, "scene", "dam")
    s = h / 360.0
    sky = paint.sky_gradient(h, w)
    land = np.zeros((h, w, 3), np.uint8)
    mountains = paint.paint_below(land, paint.ridge_line(rng, w, 0.2 * h, 0.07 * h), rng, (140, 140, 120), 2.5 * s, 0.4)
    is_land = mountains.copy()
    crest0, crest1 = int(0.25 * h), int(0.29 * h)
    face = paint.concrete(rng, h - crest1, w)
    joint = max(12, int(0.08 * w))
    face[:, ::joint] *= 0.7
    face[:: max(6, int(0.045 * h)), :] *= 0.9
    land[crest1:] = face.clip(0, 255).astype(np.uint8)
    _road(land, rng, crest0, crest1, dash=True)
    for x in range(0, w, max(6, int(0.02 * w))):  # parapet posts on the crest
        cv2.line(land, (x, crest0 - int(5 * s)), (x, crest0), (200, 200, 200), 1)
    cv2.line(land, (0, crest0 - int(5 * s)), (w, crest0 - int(5 * s)), (200, 200, 200), 1)
    sill = int(0.46 * h)
    piers = np.linspace(0.37 * w, 0.63 * w, 5).astype(int)
    pw = max(3, int(0.018 * w))
    for a, b in itertools.pairwise(piers):  # radial gates between the piers
        cv2.rectangle(land, (a + pw, crest1), (b - pw, sill), (110, 100, 92), -1)
        for y in range(crest1 + 3, sill, max(3, int(6 * s))):
            cv2.line(land, (a + pw, y), (b - pw, y), (80, 74, 70), 1)
    for x in piers:
        cv2.rectangle(land, (x - pw, int(0.18 * h)), (x + pw, sill + int(4 * s)), (185, 190, 192), -1)
    cv2.rectangle(land, (piers[0] - pw, int(0.17 * h)), (piers[-1] + pw, int(0.21 * h)), (175, 180, 182), -1)
    is_land[int(0.17 * h) :, piers[0] - pw : piers[-1] + pw + 1] = True
    is_land[crest0 - int(5 * s) :] = True
    alarm_y = int(0.53 * h)
    _alarm_line(land, alarm_y, 0, w, s, "MNDBT")
    _staff_gauge(land, int(0.22 * w), int(0.31 * h), h, s)
    for side in (0, 1):  # wooded abutments on both sides
        xs = np.arange(w, dtype=np.float32) / w
        edge = (0.14 - xs) if side == 0 else (xs - 0.86)
        line = (0.18 * h + (1.0 - np.clip(edge / 0.14, 0, 1)) * 1.3 * h).astype(np.int32)
        is_land |= paint.paint_below(land, line, rng, (50, 100, 58), 5.0 * s)
    water = Water(
        base_y=int(0.72 * h),
        alarm_y=alarm_y,
        x1=0,
        x2=w,
        texture_a=_water(rng, h, w, (115, 100, 55)),
        texture_b=_water(rng, h, w, (115, 100, 55)),
    )
    walls = _channel_walls(w, h, int(piers[0] - pw), int(piers[-1] + pw), sill, pw)
    tree = _sprite(sprites.broadleaf(rng, int(0.16 * w), int(0.45 * h)), 0.9 * w, 0.3 * h, 0.04, rng)
    return _finish(
        "dam",
        sky,
        land,
        is_land,
        sun=(int(0.9 * w), int(0.05 * h)),
        bird_band=(int(0.03 * h), int(0.18 * h)),
        fog_y=int(0.2 * h),
        road=Road(lanes=(int(0.275 * h), int(0.29 * h)), length=int(0.05 * w)),
        water=water,
        sprites=[walls, tree],
    )


def _channel_walls(w: int, h: int, left: int, right: int, sill: int, pw: int) -> sprites.Sprite:
    """The spillway's approach channel: two concrete training walls running from the outer piers towards the
    camera, standing out of the water (drawn over it, so rising water floods around them)."""
    bgr = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    spread = int(0.12 * w)
    near = max(2, int(1.6 * pw))
    for x, out in ((left, -1), (right, 1)):
        top = np.array(
            [[x - pw, sill - 2], [x + pw, sill - 2], [x + out * spread + near, h], [x + out * spread - near, h]],
            np.int32,
        )
        side = np.array(
            [[x - out * pw, sill - 2], [x + out * spread - out * 2 * near, h], [x + out * spread - out * near, h]],
            np.int32,
        )
        for poly, color in ((side, (120, 126, 128)), (top, (190, 195, 197))):
            cv2.fillPoly(bgr, [poly], color, cv2.LINE_AA)
            cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA)
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    alpha = mask[y0:y1, x0:x1].astype(np.float32)[:, :, None] / 255.0
    bgra = np.concatenate([bgr[y0:y1, x0:x1].astype(np.float32), alpha], axis=2)
    return sprites.Sprite(bgra, int(x0), int(y0), 0.0, 0.0, 0.0)


BUILDERS = {"forest": forest, "river": river, "dam": dam}


def build(name: str, w: int, h: int, seed: int) -> Scene:
    return BUILDERS[name](w, h, seed)
