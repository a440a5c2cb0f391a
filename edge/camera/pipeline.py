"""One camera's pipeline: capture -> motion gating -> detector -> confirmation -> events through the outbox.

The heavy work (decode, motion, inference, JPEG) runs in a worker thread per camera; only the writes to the
outbox happen on the node's event loop, which is the outbox's only user.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from edge.camera.capture import Capture, Frame
from edge.camera.confirm import Confirmer, Phase, Transition
from edge.camera.events import Outgoing, snapshot_jpeg, zones_of
from edge.camera.motion import MotionDetector, overlaps, plan_crops, polygon_mask, tile_grid
from edge.camera.novelty import Novelty
from edge.camera.tiling import TilePlanner, merge_seams
from edge.camera.waterline import Waterline
from edge.inference import Detector, load_manifest
from edge.inference.decoders import EMPTY, nms
from wire.nodeconfig.camera import CameraConfig

log = logging.getLogger(__name__)


def load_detector(config: CameraConfig) -> Detector:
    return Detector.load(load_manifest(config.model), config.backend)


class CameraWorker:
    """The per-frame logic, free of threads and I/O so that it can be driven frame by frame in tests."""

    def __init__(
        self, config: CameraConfig, detector: Detector, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.config = config
        self.detector = detector
        self._clock = clock  # the cost of a frame's work (tests drive it)
        self.frame_ms = 0.0  # moving average of a frame's whole work, for load shedding
        self.motion = MotionDetector(config.motion, config.masks)
        self.confirmer: Confirmer | None = None
        self._size = (0, 0)
        self._mask: np.ndarray | None = None
        self._last_full = -1e18
        self._tiles: list[tuple[int, int, int, int]] | None = None
        self._tiles_for = (0, 0)
        self._turn = -1
        self._motion_regions: list[tuple[int, int, int, int]] = []
        self._times: deque[float] = deque(maxlen=64)
        self.last_frame_ts = 0.0
        self.infer_ms = 0.0  # moving average per frame the detector ran on
        self.counters = {
            "processed": 0,
            "detector_runs": 0,
            "crops": 0,
            "full_frames": 0,
            "masked": 0,
            "events": 0,
            "shed": 0,  # frames whose moving tiles were skipped because the node was behind
        }
        spec = detector.manifest.input
        self.tiler = TilePlanner(config.tiling, spec.width, spec.height) if config.tiling.enabled else None
        # Labels the confirmation knows: the model's, and flood when the water-line rule stands in for a flood class.
        self.labels = list(detector.labels)
        self.waterline: Waterline | None = None
        if config.waterline.band is not None:
            if "flood" not in self.labels:
                self.labels.append("flood")
            self.waterline = Waterline(config.waterline, self.labels.index("flood"))
        self.novelty = Novelty(config.novelty, len(self.labels)) if config.novelty.enabled else None
        # The shrunk whole frame scores a place differently from its native tiles: it keeps its own usual scores.
        self.whole_novelty = Novelty(config.novelty, len(self.labels)) if config.novelty.enabled else None

    def _setup(self, w: int, h: int) -> Confirmer:
        if self.confirmer is None or self._size != (w, h):
            cfg = self.config
            self._size = (w, h)
            self._mask = polygon_mask(cfg.masks, w, h) if cfg.masks else None
            self.confirmer = Confirmer(
                cfg.confirm,
                self.labels,
                cfg.rules(),
                cfg.default_rule,
                w,
                h,
                cfg.report,
                sky=polygon_mask(cfg.sky, w, h) if cfg.sky else None,
            )
        return self.confirmer

    def _rois(self, frame: Frame, confirmer: Confirmer) -> list[tuple[int, int, int, int] | None]:
        """Where to run the detector this frame ([] : nowhere; None in the list: the whole frame).

        Live tracks always get a crop at native resolution, so their votes keep coming. Motion gets crops when they
        are few; when motion is everywhere (wind in the trees, rain) the whole frame is checked, plus one moving
        model-sized tile in turn, so that a fire too small to see in the downscaled frame is still seen at full
        resolution within a few frames.
        """
        s = self.config.motion
        h, w = frame.image.shape[:2]
        if not s.enabled:
            return [None]
        spec = self.detector.manifest.input
        motion = self.motion.update(frame.image)
        self._motion_regions = list(motion.regions)
        held = [
            (int(b[0]), int(b[1]), int(b[2] + 0.999), int(b[3] + 0.999))
            for b in confirmer.active_boxes(frame.ts, s.track_hold_s)
        ]
        track_crops = plan_crops(held, w, h, spec.width, spec.height, s.pad, s.max_regions) if held else []
        if frame.ts - self._last_full >= s.full_frame_every_s:
            self._last_full = frame.ts
            self.counters["full_frames"] += 1
            return [None, *(track_crops or [])]
        crops = plan_crops(motion.regions + held, w, h, spec.width, spec.height, s.pad, s.max_regions)
        if crops is not None:
            self.counters["crops"] += len(crops)
            return list(crops)
        self.counters["full_frames"] += 1
        if self._tiles is None or self._tiles_for != (w, h):
            self._tiles, self._tiles_for = tile_grid(w, h, spec.width, spec.height), (w, h)
        moving = [t for t in self._tiles if any(overlaps(t, r) for r in motion.regions)]
        extra: list[tuple[int, int, int, int] | None] = []
        if moving and len(self._tiles) > 1 and s.tiles_per_frame and self._behind():
            # The sweep is the part a busy node can do without: a frame dropped loses the whole view instead.
            self.counters["shed"] += 1
        elif moving and len(self._tiles) > 1:
            for _ in range(min(s.tiles_per_frame, len(moving))):
                self._turn = (self._turn + 1) % len(moving)
                extra.append(moving[self._turn])
        return [None, *extra, *(track_crops or [])]

    def _behind(self) -> bool:
        return self.frame_ms > self.config.motion.shed_at * 1000.0 / self.config.fps

    def _detect_tiled(self, frame: Frame, confirmer: Confirmer, tiler: TilePlanner) -> tuple[np.ndarray, list | None]:
        """Tiled mode: the planned tiles (and the whole frame, shrunk), seams merged; returns detections and the
        area looked at (None: all of it)."""
        t = self.config.tiling
        h, w = frame.image.shape[:2]
        motion = self.motion.update(frame.image).regions if self.config.motion.enabled else None
        self._motion_regions = list(motion or [])
        held = [
            (int(b[0]), int(b[1]), int(b[2] + 0.999), int(b[3] + 0.999))
            for b in confirmer.active_boxes(frame.ts, self.config.motion.track_hold_s)
        ]
        tiles = tiler.plan(w, h, frame.ts, motion, held)
        parts = [(tile, self.detector.detect(frame.image, tile)) for tile in tiles]
        if self.novelty is not None:
            # Judged per tile box, before seams join them: a new plume beside old haze must not inherit its past.
            every = np.concatenate([p[1] for p in parts]) if parts else EMPTY
            new = self.novelty.new(every, w, h, frame.ts)
            ends = np.cumsum([len(p[1]) for p in parts])
            parts = [(tile, d[k]) for (tile, d), k in zip(parts, np.split(new, ends[:-1]), strict=True)]
        iou = self.detector.decoder.options.iou_threshold
        dets = merge_seams(parts, w, h, t.merge_gap * tiler.side, iou)
        if t.whole_frame:
            self.counters["full_frames"] += 1
            whole = self.detector.detect(frame.image)
            if self.whole_novelty is not None and len(whole):
                whole = whole[self.whole_novelty.new(whole, w, h, frame.ts)]
            dets = nms(np.concatenate([whole, dets]), iou) if len(whole) else dets
        covered = None if t.whole_frame or len(tiles) == len(tiler.tiles(w, h)) else list(tiles)
        return dets, covered

    def _unmasked(self, dets: np.ndarray) -> np.ndarray:
        if self._mask is None or not len(dets):
            return dets
        h, w = self._mask.shape
        cx = ((dets[:, 0] + dets[:, 2]) / 2).clip(0, w - 1).astype(int)
        cy = ((dets[:, 1] + dets[:, 3]) / 2).clip(0, h - 1).astype(int)
        keep = self._mask[cy, cx] == 0
        self.counters["masked"] += int((~keep).sum())
        return dets[keep]

    def process(self, frame: Frame) -> list[Outgoing]:
        start = self._clock()
        try:
            return self._process(frame)
        finally:
            ms = (self._clock() - start) * 1000
            self.frame_ms = ms if self.counters["processed"] <= 1 else 0.8 * self.frame_ms + 0.2 * ms

    def _process(self, frame: Frame) -> list[Outgoing]:
        h, w = frame.image.shape[:2]
        confirmer = self._setup(w, h)
        self.counters["processed"] += 1
        self._times.append(time.monotonic())
        self.last_frame_ts = frame.ts
        if self.tiler is not None:
            t0 = self._clock()  # a tiled frame's cost includes planning its tiles
            found, covered = self._detect_tiled(frame, confirmer, self.tiler)
            ran = True
        else:
            rois = self._rois(frame, confirmer)
            ran = bool(rois)
            t0 = self._clock()
            found = self.detector.detect_many(frame.image, rois) if rois else EMPTY
            if self.novelty is not None and rois:
                found = self.novelty.filter(found, w, h, frame.ts)
            covered = None if None in rois else [r for r in rois if r is not None]
        dets = EMPTY
        if ran:
            dets = self._unmasked(found)
            ms = (self._clock() - t0) * 1000
            self.infer_ms = ms if self.counters["detector_runs"] == 0 else 0.9 * self.infer_ms + 0.1 * ms
            self.counters["detector_runs"] += 1
        if self.waterline is not None:
            # The rule looks at its band on every frame, whatever the detector did.
            water = self.waterline.update(frame.image, frame.ts)
            dets = np.concatenate([dets, water]) if len(water) else dets
            band = self.waterline.band_box
            if not ran:
                covered = [band]
            elif covered is not None:
                covered = [*covered, band]
            ran = True
        motion = self._motion_regions if self.config.motion.enabled else None
        return self._outgoing(confirmer.update(frame.ts, dets, ran, covered, motion), frame)

    def tick(self, now: float) -> list[Outgoing]:
        """No frame arrived (a cut stream): let ongoing events age out on the wall clock."""
        if self.confirmer is None:
            return []
        return self._outgoing(self.confirmer.update(now, EMPTY, ran=False), None)

    def finish(self, now: float) -> list[Outgoing]:
        if self.confirmer is None:
            return []
        return self._outgoing(self.confirmer.finish(now), None)

    def _outgoing(self, transitions: list[Transition], frame: Frame | None) -> list[Outgoing]:
        out = []
        w, h = self._size
        for tr in transitions:
            snap = None
            if frame is not None and tr.phase is not Phase.END and self.config.snapshot.enabled:
                snap = snapshot_jpeg(frame.image, tr, self.config.snapshot)
            out.append(Outgoing(tr, w, h, zones_of(tr.box, self.config.zones, w, h), snap))
        self.counters["events"] += len(out)
        return out

    def fps(self) -> float:
        """Frames processed per second over the last (up to) 64 frames."""
        if len(self._times) < 2:
            return 0.0
        span = time.monotonic() - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class CameraPipeline:
    """Lifecycle: ``await run(stop)``; returns after ``stop`` is set (or a file source without loop has ended).

    ``publish(outgoing)`` is called on the event loop for every transition, in order; the agent writes the event and
    its snapshot to the outbox there. A model that cannot be loaded is reported and the node keeps running.
    """

    def __init__(
        self,
        config: CameraConfig,
        publish: Callable[[Outgoing], None],
        detector_factory: Callable[[CameraConfig], Detector] = load_detector,
    ) -> None:
        self.config = config
        self.publish = publish
        self.detector_factory = detector_factory
        self.worker: CameraWorker | None = None
        self.capture: Capture | None = None
        self._error: str | None = None
        self.finished = asyncio.Event()  # the source ended and everything it raised has been published
        self.errors = 0

    @property
    def last_error(self) -> str | None:
        """The latest problem of this camera: its model, its frames or its stream."""
        return self._error or (self.capture.last_error if self.capture else None)

    def stats(self) -> dict[str, float]:
        p = f"cam.{self.config.id}."
        cap = self.capture.counters if self.capture else {}
        out = {
            p + "fps": round(self.worker.fps(), 2) if self.worker else 0.0,
            p + "infer_ms": round(self.worker.infer_ms, 2) if self.worker else 0.0,
            p + "skipped": float(cap.get("skipped", 0)),
            p + "reconnects": float(cap.get("reconnects", 0)),
            p + "connected": float(bool(self.capture and self.capture.connected)),
            p + "errors": float(self.errors),
        }
        if self.worker:
            out[p + "events"] = float(self.worker.counters["events"])
            out[p + "detector_runs"] = float(self.worker.counters["detector_runs"])
            out[p + "masked"] = float(self.worker.counters["masked"])
            # Frames whose moving tiles were skipped because the node was behind (see motion.shed_at).
            out[p + "shed"] = float(self.worker.counters["shed"])
            if self.worker.novelty:
                # Detections set aside as the view's usual (haze the model calls smoke every day).
                out[p + "usual"] = float(
                    self.worker.novelty.counters["usual"]
                    + (self.worker.whole_novelty.counters["usual"] if self.worker.whole_novelty else 0)
                )
            if self.worker.tiler:
                # Tiles the detector ran on, all frames together (their rate over detector_runs: tiles per frame).
                out[p + "tiles"] = float(self.worker.tiler.counters["tiles"])
            if self.worker.confirmer:
                # Detections the confirmation turned away: by a label's filters, and fires in the drawn sky.
                out[p + "filtered"] = float(self.worker.confirmer.counters["filtered"])
                out[p + "in_sky"] = float(self.worker.confirmer.counters["in_sky"])
        return out

    def _publish(self, item: Outgoing) -> None:
        try:
            self.publish(item)
        except Exception as exc:  # a full disk must not take the node down; the error is reported in status
            self.errors += 1
            self._error = f"camera {self.config.id}: event not stored: {type(exc).__name__}: {exc}"
            log.exception("camera %s: event not stored", self.config.id)

    def _work(self, stop: threading.Event, emit: Callable[[list[Outgoing]], None]) -> None:
        assert self.worker is not None and self.capture is not None
        worker, capture = self.worker, self.capture
        while not stop.is_set():
            frame = capture.get(timeout=0.5)
            try:
                if frame is None:
                    if capture.ended:
                        break
                    if not capture.is_file:
                        emit(worker.tick(time.time()))
                    continue
                emit(worker.process(frame))
            except Exception as exc:  # one bad frame must not stop the camera
                self.errors += 1
                self._error = f"camera {self.config.id}: {type(exc).__name__}: {exc}"
                log.exception("camera %s: frame failed", self.config.id)
        end_t = worker.last_frame_ts if capture.is_file else time.time()
        emit(worker.finish(end_t))

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.config
        try:
            detector = await asyncio.to_thread(self.detector_factory, cfg)
        except Exception as exc:  # ModelError and whatever a runtime raises: a bad model never stops the node
            self.errors += 1
            self._error = f"camera {cfg.id}: model not loaded: {exc}"
            log.error(self._error)
            await stop.wait()
            return
        self.worker = CameraWorker(cfg, detector)
        self.capture = Capture(
            cfg.source,
            cfg.fps,
            cfg.stale_s,
            cfg.loop,
            cfg.realtime,
            cfg.reconnect_min_s,
            cfg.reconnect_max_s,
            name=cfg.id,
        ).start()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[Outgoing] | None] = asyncio.Queue()

        def emit(items: list[Outgoing]) -> None:
            if items:
                loop.call_soon_threadsafe(queue.put_nowait, items)

        halt = threading.Event()

        def body() -> None:
            try:
                self._work(halt, emit)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        thread = threading.Thread(target=body, name=f"camera-{cfg.id}", daemon=True)
        thread.start()
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                waiters = {getter} if halt.is_set() else {getter, stopper}
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    # Stopping: the worker ends its events and sends None; keep publishing until then.
                    getter.cancel()
                    halt.set()
                    continue
                items = getter.result()
                if items is None:
                    break
                for item in items:
                    self._publish(item)
        finally:
            halt.set()
            stopper.cancel()
            await asyncio.to_thread(thread.join, 10)
            while not queue.empty():
                items = queue.get_nowait()
                for item in items or []:
                    self._publish(item)
            await asyncio.to_thread(self.capture.stop)
            detector.close()
            self.finished.set()
        if not stop.is_set():
            await stop.wait()  # a finished file source: the node itself keeps running
