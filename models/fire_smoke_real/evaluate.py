"""Measure the exported model on real imagery, through the node's own Detector, and write the figures into the manifest.

python models/fire_smoke_real/evaluate.py --model models/fire_smoke_real --data DATA [--write]

- held-out split (``test``: whole groups of scenes training never saw): per class, per image precision and recall
  at the operating score (0.5: the node's default ``min_score``; the scores are calibrated probabilities, and the
  val split holds too few images without fire to pick a threshold on), the same over a range of scores, and
  mAP@0.5 over boxes;
- real photographs without fire (``negative``): the share with any detection at the operating score, and over the
  same range;
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
MIN_SCORE = 0.5
CURVE = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
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


# What an installer draws for each tower camera, traced once on its first frame (before any fire): the open sky
# above the skyline.
TOWER_INSTALL: dict[str, dict[str, Any]] = {
    "20180728_FIRE_rm-w-mobo-c": {"sky": [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.48], [0.0, 0.5]]]},
    "20190925_FIRE_wc-s-mobo-c": {"sky": [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.44], [0.0, 0.44]]]},
}


def tower_camera(manifest_path: Path, thresholds: dict[str, float], **over: Any) -> Any:
    """The camera settings a fixed tower sending one 3 MP frame a minute gets (docs/camera.md, "Forest towers")."""
    from wire.nodeconfig.camera import CameraConfig

    doc: dict[str, Any] = {
        "id": "tower",
        "source": "sequence",
        "fps": 1 / 60,
        "model": str(manifest_path),
        "labels": {lab: {"min_score": thresholds[lab], "min_area": 0.00002} for lab in LABELS},
        # Flames of a fire kilometres away are a few pixels, and sunlit rocks look like them at that size; the
        # tower's signal is smoke, which must rise from the ground, not sit in the sky (clouds).
        "report": ["smoke"],
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
            "grounded": ["fire", "smoke"],
        },
        "motion": {"enabled": True, "alpha": 0.5, "track_hold_s": 300.0},
        # The camera's own timestamp line across the top, as an installer masks it.
        "masks": [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.03], [0.0, 0.03]]],
        "sky": [],
        "tiling": {"enabled": True, "overlap": 0.2, "sweep_s": 0, "whole_frame": True},
        # Haze the detector calls smoke all day is part of the view: only a rise above a place's usual score counts.
        "novelty": {"enabled": True},
        "snapshot": {"enabled": False},
    }
    for key, value in over.items():
        if key == "masks":
            doc[key] = [*doc[key], *value]
        else:
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
        camera = tower_camera(manifest_path, thresholds, **TOWER_INSTALL.get(seq, {}))
        out[seq] = replay_sequence(detector, camera, frames, data)
    return out


def evaluate(
    model_dir: Path,
    data: Path,
    backend: str = "openvino",
    progress: Callable[[str], None] = print,
    limit: int | None = None,
    towers: list[str] | None = None,
    min_score: float = MIN_SCORE,
) -> dict:
    manifest_path = model_dir / "manifest.yaml"
    detector = load_detector(manifest_path, backend)
    thresholds = dict.fromkeys(LABELS, min_score)
    progress("test split")
    test = detect_all(detector, data, entries(data, "test", limit), progress)
    per_label, aps = {}, []
    for i, lab in enumerate(LABELS):
        score, truth = best_scores(test, i)
        per_label[lab] = image_pr(score, truth, min_score)
        per_label[lab]["min_score"] = min_score
        per_label[lab]["ap50"] = round(average_precision(test, i), 3)
        per_label[lab]["curve"] = {
            str(t): {k: v for k, v in image_pr(score, truth, t).items() if k in ("precision", "recall")} for t in CURVE
        }
        aps.append(per_label[lab]["ap50"])
    progress("negative photographs")
    neg_results = detect_all(detector, data, entries(data, "negative", limit), progress)
    neg = negatives(neg_results, thresholds)
    neg["curve"] = {str(t): negatives(neg_results, dict.fromkeys(LABELS, t))["share"] for t in CURVE}
    neg["by_group"] = negative_groups(neg_results, entries(data, "negative", limit), thresholds)
    progress("tower sequences")
    replays = sequences(manifest_path, detector, data, thresholds, towers)
    return {
        "held_out": {
            "split": "test: whole groups of near-identical scenes never trained on (prepare.py)",
            "images": len(test),
            "per_label": per_label,
            "map50": round(float(np.mean(aps)), 3),
        },
        "negatives": neg,
        "tower_sequences": {k: {kk: vv for kk, vv in v.items() if kk != "events"} for k, v in replays.items()},
        "runtime": backend,
    }


def negative_groups(results: list, items: list[dict], thresholds: dict[str, float]) -> dict[str, str]:
    """Images with a detection over images, per source and folder (fog scenes, sunsets, forests...)."""
    counts: dict[str, list[int]] = {}
    for (d, _), e in zip(results, items, strict=True):
        hit = any(float(r[4]) >= thresholds[LABELS[int(r[5])]] for r in d)
        c = counts.setdefault(f"{e['source']}/{e.get('group', '')}", [0, 0])
        c[0] += int(hit)
        c[1] += 1
    return {k: f"{v[0]}/{v[1]}" for k, v in sorted(counts.items())}


def failure_pictures(
    results: list, items: list[dict], data: Path, thresholds: dict[str, float], out: Path, per_kind: int = 4
) -> list[Path]:
    """Montages of the held-out images the model gets wrong: missed (truth green, no detection over its threshold)
    and false (a detection, red, where the truth has none of its label). Only redistributable sources are drawn."""
    from fire_smoke_real.sources import SOURCES

    kinds: dict[str, list[np.ndarray]] = {"missed": [], "false": []}
    for (dets, truth), e in zip(results, items, strict=True):
        if SOURCES[e["source"]].use != "train":
            continue
        over = [d for d in dets if float(d[4]) >= thresholds[LABELS[int(d[5])]]]
        labels_true = {int(t[0]) for t in truth}
        labels_found = {int(d[5]) for d in over}
        kind = "missed" if labels_true - labels_found else "false" if labels_found - labels_true else None
        if kind is None or len(kinds[kind]) >= per_kind:
            continue
        img = cv2.imread(str(data / e["file"]), cv2.IMREAD_COLOR)
        for t in truth:
            cv2.rectangle(img, (int(t[1]), int(t[2])), (int(t[3]), int(t[4])), (0, 200, 0), 3)
            cv2.putText(img, LABELS[int(t[0])], (int(t[1]), int(t[2]) + 24), 0, 0.9, (0, 200, 0), 2)
        for d in over:
            cv2.rectangle(img, (int(d[0]), int(d[1])), (int(d[2]), int(d[3])), (0, 0, 230), 3)
            label = f"{LABELS[int(d[5])]} {d[4]:.2f}"
            cv2.putText(img, label, (int(d[0]), max(20, int(d[1]) - 6)), 0, 0.9, (0, 0, 230), 2)
        kinds[kind].append(cv2.resize(img, (320, 320)))
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, tiles in kinds.items():
        if tiles:
            path = out / f"fire_smoke_real_{kind}.png"
            cv2.imwrite(str(path), np.hstack(tiles))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="folder with manifest.yaml and the model files")
    parser.add_argument("--data", type=Path, required=True, help="the folder prepare.py built")
    parser.add_argument("--backend", choices=["openvino", "litert"], default="openvino")
    parser.add_argument("--write", action="store_true", help="write the figures into the manifest's metrics")
    parser.add_argument("--limit", type=int, help="at most this many images per split (a quick look)")
    parser.add_argument("--towers", nargs="*", help="only these tower sequences (default: all)")
    parser.add_argument("--pictures", type=Path, help="write montages of missed and false held-out images here")
    parser.add_argument("--min-score", type=float, default=MIN_SCORE, help="the operating score (default 0.5)")
    args = parser.parse_args(argv)
    figures = evaluate(
        args.model, args.data, args.backend, limit=args.limit, towers=args.towers, min_score=args.min_score
    )
    if args.pictures:
        detector = load_detector(args.model / "manifest.yaml", args.backend)
        items = entries(args.data, "test", args.limit)
        thresholds = {k: v["min_score"] for k, v in figures["held_out"]["per_label"].items()}
        results = detect_all(detector, args.data, items)
        for path in failure_pictures(results, items, args.data, thresholds, args.pictures):
            print(f"wrote {path}", file=sys.stderr)
    print(json.dumps(figures))
    if args.write:
        from fire_smoke_real import export

        path = args.model / export.MANIFEST
        doc = yaml.safe_load(path.read_text())
        doc["metrics"] = figures
        # The node's decoder keeps what a camera's label filters may still want (min_score down to 0.5 * 0.8 ongoing).
        doc["decoder_options"] = {**doc.get("decoder_options", {}), "score_threshold": 0.25}
        export.write_manifest(args.model, doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
