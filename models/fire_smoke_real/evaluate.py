"""Measure the exported model on real imagery, through the node's own Detector, and write the figures into the manifest.

python models/fire_smoke_real/evaluate.py --model models/fire_smoke_real --data DATA [--write]

- held-out split (``test``: whole groups of scenes training never saw): per class, per image precision and recall
  at the operating threshold picked on ``val`` (the lowest score whose precision reaches 0.9 there), and mAP@0.5 over
  boxes;
- real photographs without fire (``negative``): the share with any detection at the operating thresholds;
- tower sequences: replayed frame by frame, at their real one-a-minute cadence, through the camera pipeline with
  tiling (edge/camera): minutes from ignition to the first smoke or fire event, and events before ignition.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
for _p in (str(_HERE.parent), str(_HERE.parents[1])):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from fire_smoke.evaluate import iou_matrix  # noqa: E402

LABELS = ("fire", "smoke")
MIN_PRECISION = 0.9
AP_IOU = 0.5
AP_SCORE = 0.05  # detections kept for the precision-recall curve


def load_detector(manifest_path: Path, backend: str = "openvino", score: float = AP_SCORE) -> Any:
    """The node's Detector on this manifest, its decoder keeping everything down to ``score``."""
    from edge.inference import Detector, LiteRtConfig, OpenVinoConfig, load_manifest

    manifest = load_manifest(manifest_path)
    manifest = manifest.model_copy(update={"decoder_options": {**manifest.decoder_options, "score_threshold": score}})
    return Detector.load(manifest, OpenVinoConfig() if backend == "openvino" else LiteRtConfig())


def entries(data: Path, split: str, limit: int | None = None) -> list[dict]:
    """The index's entries of one split; ``limit`` keeps every n-th so that a short run still spans the split."""
    items = [e for e in json.loads((data / "index.json").read_text()) if e["split"] == split]
    if limit and len(items) > limit:
        items = items[:: -(-len(items) // limit)]
    return items


def detect_all(detector: Any, data: Path, items: list[dict], progress: Callable[[str], None] = print) -> list:
    """Per image: (detections K x 6 in image pixels, truth K x 5 [class, x1, y1, x2, y2] in image pixels)."""
    out = []
    for n, e in enumerate(items, 1):
        img = cv2.imread(str(data / e["file"]), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{data / e['file']}: not an image")
        h, w = img.shape[:2]
        truth = np.asarray(e.get("boxes", []), np.float32).reshape(-1, 5)
        truth[:, [1, 3]] *= w
        truth[:, [2, 4]] *= h
        out.append((detector.detect(img), truth))
        if n % 200 == 0:
            progress(f"  {n}/{len(items)} images")
    return out


def best_scores(results: list, label: int) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the best score of a label's detections (0 when none) and whether the truth holds the label."""
    score = np.array([float(d[d[:, 5] == label, 4].max()) if (d[:, 5] == label).any() else 0.0 for d, _ in results])
    truth = np.array([bool((t[:, 0] == label).any()) for _, t in results])
    return score, truth


def image_pr(score: np.ndarray, truth: np.ndarray, threshold: float) -> dict[str, float]:
    hit = score >= threshold
    tp, fp, fn = int((hit & truth).sum()), int((hit & ~truth).sum()), int((~hit & truth).sum())
    return {
        "precision": round(tp / max(tp + fp, 1), 3),
        "recall": round(tp / max(tp + fn, 1), 3),
        "images_with_label": int(truth.sum()),
        "images": len(score),
    }


def operating_threshold(score: np.ndarray, truth: np.ndarray, min_precision: float = MIN_PRECISION) -> float:
    """The lowest score threshold (so the highest recall) whose image-level precision reaches ``min_precision``."""
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        if image_pr(score, truth, float(t))["precision"] >= min_precision:
            return float(t)
    return 0.95


def average_precision(results: list, label: int, iou: float = AP_IOU) -> float:
    """All-point interpolated AP of one label over boxes (each truth box matched at most once, best score first)."""
    dets, n_truth = [], 0
    for i, (d, t) in enumerate(results):
        n_truth += int((t[:, 0] == label).sum())
        dets += [(float(r[4]), i, r[:4]) for r in d[d[:, 5] == label]]
    if n_truth == 0:
        return float("nan")
    dets.sort(key=lambda x: -x[0])
    used: dict[int, np.ndarray] = {}
    tp = np.zeros(len(dets))
    for k, (_, i, box) in enumerate(dets):
        truth = results[i][1]
        gt = truth[truth[:, 0] == label, 1:]
        if not len(gt):
            continue
        taken = used.setdefault(i, np.zeros(len(gt), bool))
        ious = iou_matrix(box[None], gt)[0]
        ious[taken] = -1
        j = int(ious.argmax())
        if ious[j] >= iou:
            taken[j] = True
            tp[k] = 1
    if not len(dets):
        return 0.0
    ctp = np.cumsum(tp)
    recall = ctp / n_truth
    precision = ctp / np.arange(1, len(dets) + 1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def negatives(results: list, thresholds: dict[str, float]) -> dict[str, Any]:
    hits = [any(float(r[4]) >= thresholds[LABELS[int(r[5])]] for r in d) if len(d) else False for d, _ in results]
    return {"images": len(results), "with_detection": int(sum(hits)), "share": round(sum(hits) / max(len(hits), 1), 3)}


def tower_camera(manifest_path: Path, thresholds: dict[str, float], **over: Any) -> Any:
    """The camera settings a fixed tower sending one 3 MP frame a minute gets (docs/camera.md, "Forest towers")."""
    from edge.camera.config import CameraConfig

    doc: dict[str, Any] = {
        "id": "tower",
        "source": "sequence",
        "fps": 1 / 60,
        "model": str(manifest_path),
        "labels": {lab: {"min_score": thresholds[lab], "min_area": 0.00002} for lab in LABELS},
        "confirm": {
            # One frame a minute: two sightings in the last three frames, a minute apart, confirm; smoke cannot
            # be watched growing over five sightings in the three minutes the target allows.
            "window": 3,
            "min_hits": 2,
            "confirm_score": max(thresholds.values()),
            "growth_hold": 1,
            "dwell_s": 60.0,
            "steady_share": 0.6,
            "end_after_s": 300.0,
            "needs_motion": [],
        },
        "motion": {"enabled": True, "alpha": 0.5, "track_hold_s": 300.0},
        "tiling": {"enabled": True, "overlap": 0.2, "sweep_s": 0, "whole_frame": True},
        "snapshot": {"enabled": False},
    }
    for key, value in over.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return CameraConfig.model_validate(doc)


def replay_sequence(detector: Any, config: Any, frames: list[dict], data: Path) -> dict[str, Any]:
    """Feed the frames to the camera worker at their own timestamps; events with seconds from ignition."""
    from edge.camera.capture import Frame
    from edge.camera.confirm import Phase
    from edge.camera.pipeline import CameraWorker

    worker = CameraWorker(config, detector)
    ignition = frames[0]["time"] - frames[0]["from_ignition_s"]
    events, costs = [], []
    for i, e in enumerate(sorted(frames, key=lambda e: e["time"])):
        img = cv2.imread(str(data / e["file"]), cv2.IMREAD_COLOR)
        t0 = time.perf_counter()
        outs = worker.process(Frame(img, float(e["time"]), float(e["time"] - frames[0]["time"]), i))
        costs.append((time.perf_counter() - t0) * 1000)
        for o in outs:
            if o.transition.phase is Phase.NEW:
                events.append({"label": o.transition.label, "from_ignition_s": int(e["time"] - ignition)})
    first = {lab: next((ev["from_ignition_s"] for ev in events if ev["label"] == lab), None) for lab in LABELS}
    after = [ev["from_ignition_s"] for ev in events if ev["from_ignition_s"] >= 0]
    return {
        "frames": len(frames),
        "frame_size": f"{img.shape[1]}x{img.shape[0]}",
        "minutes_before_ignition": round(-min(e["from_ignition_s"] for e in frames) / 60, 1),
        "ignition_to_event_s": min(after) if after else None,
        "first_event_s_by_label": first,
        "false_events_before_ignition": sum(1 for ev in events if ev["from_ignition_s"] < 0),
        "tiles_per_frame": round(worker.tiler.counters["tiles"] / max(len(frames), 1), 1) if worker.tiler else 0,
        "ms_per_frame_p50": round(float(np.median(costs)), 1),
        "events": events,
    }


def sequences(
    manifest_path: Path, detector: Any, data: Path, thresholds: dict[str, float], names: list[str] | None = None
) -> dict[str, Any]:
    items = [e for e in entries(data, "sequence") if names is None or e["sequence"] in names]
    out = {}
    for seq in sorted({e["sequence"] for e in items}):
        frames = [e for e in items if e["sequence"] == seq]
        out[seq] = replay_sequence(detector, tower_camera(manifest_path, thresholds), frames, data)
    return out


def evaluate(
    model_dir: Path,
    data: Path,
    backend: str = "openvino",
    progress: Callable[[str], None] = print,
    limit: int | None = None,
    towers: list[str] | None = None,
) -> dict:
    manifest_path = model_dir / "manifest.yaml"
    detector = load_detector(manifest_path, backend)
    progress("val split (operating thresholds)")
    val = detect_all(detector, data, entries(data, "val", limit), progress)
    thresholds = {lab: operating_threshold(*best_scores(val, i)) for i, lab in enumerate(LABELS)}
    progress(f"thresholds {thresholds}; test split")
    test = detect_all(detector, data, entries(data, "test", limit), progress)
    per_label, aps = {}, []
    for i, lab in enumerate(LABELS):
        per_label[lab] = image_pr(*best_scores(test, i), thresholds[lab])
        per_label[lab]["min_score"] = thresholds[lab]
        per_label[lab]["ap50"] = round(average_precision(test, i), 3)
        aps.append(per_label[lab]["ap50"])
    progress("negative photographs")
    neg = negatives(detect_all(detector, data, entries(data, "negative", limit), progress), thresholds)
    progress("tower sequences")
    replays = sequences(manifest_path, detector, data, thresholds, towers)
    return {
        "held_out": {
            "split": "test: whole groups of near-identical scenes never trained on (prepare.py)",
            "images": len(test),
            "per_label": per_label,
            "map50": round(float(np.mean(aps)), 3),
            "thresholds_from": f"val split ({len(val)} images): lowest score with image precision >= {MIN_PRECISION}",
        },
        "negatives": neg,
        "tower_sequences": {k: {kk: vv for kk, vv in v.items() if kk != "events"} for k, v in replays.items()},
        "runtime": backend,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="folder with manifest.yaml and the model files")
    parser.add_argument("--data", type=Path, required=True, help="the folder prepare.py built")
    parser.add_argument("--backend", choices=["openvino", "litert"], default="openvino")
    parser.add_argument("--write", action="store_true", help="write the figures into the manifest's metrics")
    parser.add_argument("--limit", type=int, help="at most this many images per split (a quick look)")
    parser.add_argument("--towers", nargs="*", help="only these tower sequences (default: all)")
    args = parser.parse_args(argv)
    figures = evaluate(args.model, args.data, args.backend, limit=args.limit, towers=args.towers)
    print(json.dumps(figures))
    if args.write:
        from fire_smoke_real import export

        path = args.model / export.MANIFEST
        doc = yaml.safe_load(path.read_text())
        doc["metrics"] = figures
        doc["decoder_options"] = {
            **doc.get("decoder_options", {}),
            "score_threshold": min(v["min_score"] for v in figures["held_out"]["per_label"].values()),
        }
        export.write_manifest(args.model, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
