"""Rendering speed of the camera simulator on one core (``iocgw sim camera bench``), ending with one JSON line.

Speeds are frames per second of this thread's CPU time (OpenCV held to one thread), so that other jobs on a shared
machine do not lower them; wall-clock speeds are reported next to them.
"""

from __future__ import annotations

import json
import os
import platform
import time

import cv2

from simulators.camera.presets import preset
from simulators.camera.render import Renderer


def _time_preset(name: str, frames: int) -> dict[str, float]:
    started = time.perf_counter()
    renderer = Renderer(preset(name))
    setup = time.perf_counter() - started
    n = min(frames, renderer.frame_count)
    # Sample the whole clip (events start late in most presets), not just its first seconds.
    indices = [int(i * renderer.frame_count / n) for i in range(n)]
    cpu_render = cpu_encode = wall = 0.0
    for index in indices:
        w0, c0 = time.perf_counter(), time.thread_time()
        frame, _ = renderer.render(index)
        c1 = time.thread_time()
        cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        c2 = time.thread_time()
        cpu_render += c1 - c0
        cpu_encode += c2 - c1
        wall += time.perf_counter() - w0
    return {
        "frames": n,
        "setup_s": round(setup, 3),
        "render_fps": round(n / cpu_render, 1),
        "render_jpeg_fps": round(n / (cpu_render + cpu_encode), 1),
        "render_jpeg_fps_wall": round(n / wall, 1),
        "_cpu_render": cpu_render,
        "_cpu_total": cpu_render + cpu_encode,
    }


def run_bench(names: list[str], frames: int) -> int:
    cv2.setNumThreads(1)  # the figure is per core: OpenCV would otherwise spread some operations over threads
    per_preset = {}
    for name in names:
        r = _time_preset(name, frames)
        print(
            f"{name:24s} setup {r['setup_s']:5.2f} s  render {r['render_fps']:6.1f} fps  "
            f"+jpeg {r['render_jpeg_fps']:6.1f} fps  (wall {r['render_jpeg_fps_wall']:6.1f})",
            flush=True,
        )
        per_preset[name] = r
    total = sum(r["frames"] for r in per_preset.values())
    result = {
        "bench": "camera_sim",
        "width": 640,
        "height": 360,
        "threads": 1,
        "frames": total,
        "render_fps": round(total / sum(r.pop("_cpu_render") for r in per_preset.values()), 1),
        "render_jpeg_fps": round(total / sum(r.pop("_cpu_total") for r in per_preset.values()), 1),
        "slowest_preset": min(per_preset, key=lambda k: per_preset[k]["render_fps"]),
        "slowest_render_fps": min(r["render_fps"] for r in per_preset.values()),
        "cpu": platform.processor() or platform.machine(),
        "cpus_visible": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "presets": per_preset,
    }
    print(json.dumps(result))
    return 0
