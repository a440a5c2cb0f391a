"""``iocgw sim camera``: render clips (``render``), serve them as live MJPEG cameras (``serve``), time the renderer
(``bench``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from plumbing.configfile import ConfigError, load_yaml_model
from simulators.camera.presets import PRESETS, UnknownPreset, preset
from simulators.camera.spec import ClipSpec

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="camera_cmd", required=True, metavar="SUBCOMMAND")
    render = sub.add_parser("render", help="write clips (MJPG .avi + truth .jsonl + spec .json) from presets or specs")
    render.add_argument("--preset", action="append", default=[], metavar="NAME", help="a named clip (repeatable)")
    render.add_argument("--spec", action="append", default=[], metavar="FILE", help="a ClipSpec YAML/JSON file")
    render.add_argument("--out", default="run/camera", help="output folder (default: run/camera)")
    render.add_argument("--seconds", type=float, default=None, help="override every clip's length")
    render.add_argument("--quality", type=int, default=90, help="JPEG quality of the video frames (default 90)")
    render.add_argument("--list", action="store_true", help="list the presets and exit")
    render.set_defaults(camera_func=cmd_render)

    serve = sub.add_parser("serve", help="serve clips as live MJPEG cameras over HTTP, looping at their fps")
    serve.add_argument("--preset", action="append", default=[], metavar="NAME", help="a camera (repeatable)")
    serve.add_argument("--spec", action="append", default=[], metavar="FILE", help="a ClipSpec YAML/JSON file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8554)
    serve.add_argument("--quality", type=int, default=80, help="JPEG quality (default 80)")
    serve.set_defaults(camera_func=cmd_serve)

    sky = sub.add_parser(
        "sky",
        help="the open sky above a scene's skyline as the camera config's `sky:` entry (JSON), as an installer "
        "would draw it",
    )
    sky.add_argument("--preset", action="append", default=[], metavar="NAME", help="a camera (repeatable)")
    sky.add_argument("--spec", action="append", default=[], metavar="FILE", help="a ClipSpec YAML/JSON file")
    sky.add_argument("--seed", type=int, default=None, help="the scene's seed (default: the preset's own)")
    sky.set_defaults(camera_func=cmd_sky)

    bench = sub.add_parser("bench", help="rendering speed on one core; ends with one JSON line")
    bench.add_argument("--frames", type=int, default=300, help="frames per preset (default 300)")
    bench.add_argument("--preset", action="append", default=[], metavar="NAME", help="presets to time (default: all)")
    bench.set_defaults(camera_func=cmd_bench)


def main(args: argparse.Namespace) -> int:
    try:
        return int(args.camera_func(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except UnknownPreset as exc:
        print(f"iocgw sim camera: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:  # a preset with an override that does not fit (e.g. --seconds 0)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}" for e in exc.errors())
        print(f"iocgw sim camera: {problems}", file=sys.stderr)
        return EXIT_USAGE


def load_spec(path: str | Path) -> ClipSpec:
    """A ClipSpec from a YAML or JSON file; ConfigError names the file, line and field of each problem.

    A file without ``name`` is named after the file.
    """
    spec = load_yaml_model(path, ClipSpec)
    if "name" not in spec.model_fields_set:
        stem = Path(path).name.split(".")[0]
        with contextlib.suppress(ValueError):  # a file name that is no valid clip name keeps the default
            spec = spec.model_copy(update={"name": ClipSpec(name=stem).name})
    return spec


def _specs(args: argparse.Namespace, seconds: float | None = None) -> list[ClipSpec]:
    extra = {"seconds": seconds} if seconds else {}
    specs = [preset(name, **extra) for name in args.preset]
    for path in args.spec:
        spec = load_spec(path)
        specs.append(spec.model_copy(update=extra) if extra else spec)
    return specs


def cmd_render(args: argparse.Namespace) -> int:
    from simulators.camera.clip import ClipWriteError, write_clip

    if args.list:
        for name, p in PRESETS.items():
            spec = preset(name)
            print(f"{name:24s} {spec.scene:6s} {spec.seconds:6.0f} s  [{', '.join(p.tags)}]  {p.description}")
        return EXIT_OK
    specs = _specs(args, args.seconds)
    if not specs:
        print("iocgw sim camera render: give --preset NAME or --spec FILE (or --list)", file=sys.stderr)
        return EXIT_USAGE
    for spec in specs:
        started = time.perf_counter()

        def progress(done: int, total: int, name: str = spec.name) -> None:
            print(f"\r{name}: {done}/{total} frames ({100 * done // total}%)", end="", file=sys.stderr, flush=True)

        try:
            paths = write_clip(spec, args.out, quality=args.quality, progress=progress)
        except (ClipWriteError, OSError) as exc:
            print(f"\niocgw sim camera render: {exc}", file=sys.stderr)
            return EXIT_FAILED
        took = time.perf_counter() - started
        print(file=sys.stderr)
        print(f"{paths.video} ({spec.frame_count} frames in {took:.1f} s, {spec.frame_count / took:.0f} frames/s)")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from simulators.camera.server import CameraServer

    specs = _specs(args)
    if not specs:
        print("iocgw sim camera serve: give at least one --preset NAME or --spec FILE", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> None:
        server = CameraServer(specs, host=args.host, port=args.port, quality=args.quality)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.start()
        print(f"iocgw sim camera: serving {len(specs)} cameras on http://{args.host}:{server.port}/cameras", flush=True)
        for spec in specs:
            print(f"  {server.url(spec.name)}  ({spec.scene}, {spec.fps:g} fps, {spec.seconds:g} s loop)", flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except ValueError as exc:
        print(f"iocgw sim camera serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"iocgw sim camera serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_sky(args: argparse.Namespace) -> int:
    """One line per clip: {"clip": name, "sky": [polygon]}; paste the list under the camera's `sky:`."""
    import json

    from simulators.camera.sky import sky_polygon

    specs = _specs(args)
    if not specs:
        print("iocgw sim camera sky: give --preset NAME or --spec FILE", file=sys.stderr)
        return EXIT_USAGE
    for spec in specs:
        if args.seed is not None:
            spec = spec.model_copy(update={"seed": args.seed})
        print(json.dumps({"clip": spec.name, "sky": [[list(p) for p in sky_polygon(spec)]]}))
    return EXIT_OK


def cmd_bench(args: argparse.Namespace) -> int:
    from simulators.camera.bench import run_bench

    return run_bench(args.preset or list(PRESETS), args.frames)
