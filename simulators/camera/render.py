"""Composes a clip's frames and their ground truth from its spec: scene, events, distractors, conditions.

Every frame is a pure function of (spec, index), so a clip can be rendered from any point, looped by the server and
reproduced bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulators.camera import conditions, scenes
from simulators.camera.distractors import Birds, Clouds, Fog, Glare, Vehicles
from simulators.camera.fire import Flames
from simulators.camera.noise import rng_for, window
from simulators.camera.smoke import SmokePlume
from simulators.camera.spec import ClipSpec, FrameTruth, TruthBox

MIN_BOX_PX = 4  # a box clipped by the frame edge to less than this is dropped
FLOOD_MIN_PX = MIN_BOX_PX  # the water must be this far over the alarm line for a flood box


class Renderer:
    """Builds everything a clip needs once (scene, textures, schedules); ``render(i)`` then draws frame ``i``."""

    def __init__(self, spec: ClipSpec) -> None:
        self.spec = spec
        w, h, seed = spec.width, spec.height, spec.seed
        self.scene = scenes.build(spec.scene, w, h, seed)
        on = set(spec.distractors)
        self.sky_mask3 = np.repeat((self.scene.land_mask == 0)[:, :, None], 3, axis=2)
        self.clouds = Clouds(rng_for(seed, "clouds"), self.scene) if "clouds" in on else None
        self.fog = Fog(rng_for(seed, "fog"), self.scene) if "fog" in on else None
        road = self.scene.road
        self.vehicles = (
            Vehicles(rng_for(seed, "vehicles"), road, w, spec.seconds) if "vehicles" in on and road else None
        )
        self.birds = Birds(rng_for(seed, "birds"), self.scene, spec.seconds) if "birds" in on else None
        self.glare = Glare(rng_for(seed, "glare"), self.scene) if "glare" in on else None
        self.sway = "trees" in on
        self.flashes = (
            conditions.flash_times(rng_for(seed, "lightning"), spec.seconds, 20.0) if "lightning" in on else []
        )
        self.switches = conditions.switch_times(rng_for(seed, "ir"), spec.seconds, 40.0) if "ir_switch" in on else []
        self.rain = conditions.Rain(rng_for(seed, "rain"), w, h) if spec.rain else None
        self.shake = conditions.Shake(rng_for(seed, "shake"), spec.shake) if spec.shake > 0 else None
        night = spec.time_of_day == "night"
        self.falloff = conditions.ir_falloff(w, h)
        self.noise = conditions.SensorNoise(rng_for(seed, "noise"), w, h, 5.0 if night else 2.0)
        self.plumes: list[SmokePlume] = []
        self.flames: list[Flames] = []
        self.rises: list[tuple[float, float, float]] = []  # (start s, ramp s, target row)
        for i, ev in enumerate(spec.events):
            rng = rng_for(seed, "event", i)
            foot = (ev.x * w, ev.y * h)
            if ev.kind == "smoke":
                self.plumes.append(SmokePlume(rng, foot, ev.size * h, ev.start_s, ev.end_s, (212, 214, 214), 0.75))
            elif ev.kind == "fire":
                self.flames.append(Flames(rng, foot, ev.size * h, ev.start_s, ev.end_s))
                if ev.smoke:
                    smoke_foot = (foot[0], foot[1] - ev.size * h * 0.6)
                    plume = SmokePlume(
                        rng, smoke_foot, ev.size * h * 3.0, ev.start_s + 1.0, ev.end_s, (120, 122, 125), 0.8
                    )
                    self.plumes.append(plume)
            else:
                end = ev.end_s if ev.end_s is not None else spec.seconds
                ramp = ev.ramp_s if ev.ramp_s is not None else max(1e-3, end - ev.start_s)
                self.rises.append((ev.start_s, ramp, ev.y * h))

    @property
    def frame_count(self) -> int:
        return self.spec.frame_count

    def water_level(self, t: float) -> int | None:
        """Row of the water surface at ``t`` (None for a scene without water)."""
        water = self.scene.water
        if water is None:
            return None
        level = float(water.base_y)
        for start, ramp, target in self.rises:
            if t >= start:
                u = min(1.0, (t - start) / ramp)
                level = min(level, water.base_y + (target - water.base_y) * u)
        return round(level)

    def _ir_mode(self, t: float) -> bool:
        flips = sum(1 for s in self.switches if s <= t)
        return (self.spec.time_of_day == "night") != (flips % 2 == 1)

    def _background(self, t: float) -> np.ndarray:
        frame = self.scene.land.copy()
        rows = self.scene.sky_rows
        sky = self.clouds.sky(t) if self.clouds else self.scene.sky[:rows]
        np.copyto(frame[:rows], sky[:rows], where=self.sky_mask3[:rows])
        if self.clouds:
            self.clouds.shade(frame, t)
        return frame

    def _water(self, frame: np.ndarray, t: float) -> tuple[int, int, int, int] | None:
        water = self.scene.water
        level = self.water_level(t)
        if water is None or level is None:
            return None
        h = self.spec.height
        level = max(0, min(h, level))
        rows = h - level
        if rows > 0:
            a = window(water.texture_a, t * 9.0, 0, h, water.x2 - water.x1)[level:]
            b = window(water.texture_b, -t * 6.0 + 100, 37, h, water.x2 - water.x1)[level:]
            frame[level:, water.x1 : water.x2] = ((a.astype(np.uint16) + b) >> 1).astype(np.uint8)
            frame[level : level + 1, water.x1 : water.x2] = (frame[level, water.x1 : water.x2] >> 1) + 100
        if water.alarm_y - level >= FLOOD_MIN_PX:
            return (water.x1, level, water.x2, water.alarm_y)
        return None

    def render(self, index: int) -> tuple[np.ndarray, FrameTruth]:
        # Painter's order: the scene back to front, then what the camera does to it (IR, lights, weather, shake).
        spec = self.spec
        t = index / spec.fps
        boxes: list[tuple[str, tuple[int, int, int, int]]] = []
        frame = self._background(t)
        if self.fog:
            self.fog.draw(frame, t)
        flood = self._water(frame, t)
        if self.vehicles:
            self.vehicles.draw_bodies(frame, t)
        if self.birds:
            self.birds.draw(frame, t)
        self._plumes(frame, t, boxes)
        self._sprites(frame, t)
        night = spec.time_of_day == "night"
        ir = self._ir_mode(t)
        frame = self._exposure(frame, night, ir)
        self._flames(frame, t, ir, boxes)
        if flood:
            boxes.append(("flood", flood))
        frame = self._overlays(frame, t, index, night, ir)
        frame, dx, dy = self._sensor(frame, t, index)
        return frame, FrameTruth(index=index, t_s=round(t, 6), boxes=self._truth(boxes, dx, dy))

    def _plumes(self, frame: np.ndarray, t: float, boxes: list[tuple[str, tuple[int, int, int, int]]]) -> None:
        for plume in self.plumes:
            box = plume.draw(frame, t)
            if box:
                boxes.append(("smoke", box))

    def _sprites(self, frame: np.ndarray, t: float) -> None:
        """Trees and the like, swaying in the wind when the clip has that distractor."""
        for sprite in self.scene.sprites:
            shear = sprite.sway * np.sin(2 * np.pi * sprite.freq * t + sprite.phase) if self.sway else 0.0
            if self.sway:
                shear += sprite.sway * 0.4 * np.sin(2 * np.pi * sprite.freq * 2.7 * t + sprite.phase * 1.7)
            sprite.draw(frame, float(shear))

    def _exposure(self, frame: np.ndarray, night: bool, ir: bool) -> np.ndarray:
        if ir:
            return conditions.to_ir(frame, night, self.falloff)
        if night:
            return conditions.dark_colour(frame)
        return frame

    def _flames(
        self, frame: np.ndarray, t: float, ir: bool, boxes: list[tuple[str, tuple[int, int, int, int]]]
    ) -> None:
        # Drawn after the exposure: flames glow, in IR as in colour, rather than being darkened with the scene.
        for flames in self.flames:
            box = flames.draw(frame, t, night=ir)
            if box:
                boxes.append(("fire", box))

    def _overlays(self, frame: np.ndarray, t: float, index: int, night: bool, ir: bool) -> np.ndarray:
        """Light in front of the scene: headlights at night, glare, rain, lightning."""
        if self.vehicles and night:
            self.vehicles.draw_lights(frame, t, grey=ir)
        if self.glare:
            self.glare.draw(frame, t, night=night)
        if self.rain:
            frame = self.rain.draw(frame, index)
        if any(a <= t < b for a, b in self.flashes):
            frame = conditions.lightning(frame)
        return frame

    def _sensor(self, frame: np.ndarray, t: float, index: int) -> tuple[np.ndarray, int, int]:
        """Camera shake and sensor noise; the shake's offset, by which the truth boxes move too."""
        dx = dy = 0
        if self.shake:
            dx, dy = self.shake.offset(t, index)
            frame = conditions.Shake.apply(frame, dx, dy)
        return self.noise.apply(frame, index), dx, dy

    def _truth(self, boxes: list[tuple[str, tuple[int, int, int, int]]], dx: int, dy: int) -> list[TruthBox]:
        out = []
        w, h = self.spec.width, self.spec.height
        sx, sy = dx, dy
        for label, (x1, y1, x2, y2) in boxes:
            x1, x2 = max(0, min(w, x1 + sx)), max(0, min(w, x2 + sx))
            y1, y2 = max(0, min(h, y1 + sy)), max(0, min(h, y2 + sy))
            if x2 - x1 >= MIN_BOX_PX and y2 - y1 >= MIN_BOX_PX:
                out.append(TruthBox(label=label, x1=x1, y1=y1, x2=x2, y2=y2))  # type: ignore[arg-type]
        return out


def iter_frames(spec: ClipSpec, start: int = 0, stop: int | None = None) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """Frames ``start`` .. ``stop`` (default: the whole clip) as (BGR uint8 (H, W, 3), FrameTruth)."""
    renderer = Renderer(spec)
    end = renderer.frame_count if stop is None else min(stop, renderer.frame_count)
    for index in range(start, end):
        yield renderer.render(index)
