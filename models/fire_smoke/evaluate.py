"""Measure the exported model on held-out simulated clips with both runtimes and write the figures into the manifest.

    python models/fire_smoke/evaluate.py --model models/fire_smoke

Precision and recall per label at IoU 0.3 on event clips whose seeds training never used, and false detections per
hour of video on distractor-only clips, as the exported files (not the Keras weights) produce them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

_HERE = Path(__file__).resolve().parent
# models/ is not an installed package: put it (for ``fire_smoke.*``) and the repo root (for ``simulators``) on the path.
for _p in (str(_HERE.parent), str(_HERE.parents[1])):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from fire_smoke import dataset, export  # noqa: E402

IOU = 0.3
SCORE = 0.5
NMS_IOU = 0.45
# Boxes at least this many model-input pixels on their short side: "visible" to a 16-pixel grid.
MIN_SIDE = 8.0


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (K x 4, x1 y1 x2 y2) with every box in ``b`` (M x 4)."""
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def decode(output: np.ndarray, score: float = SCORE, nms_iou: float = NMS_IOU) -> np.ndarray:
    """One output (1 x (4 + nc) x N) to detections ``[class, score, x1, y1, x2, y2]`` after per-class greedy NMS."""
    rows = output[0].T
    xyxy = np.concatenate([rows[:, :2] - rows[:, 2:4] / 2, rows[:, :2] + rows[:, 2:4] / 2], axis=1)
    dets = []
    for c in range(rows.shape[1] - 4):
        scores = rows[:, 4 + c]
        idx = np.flatnonzero(scores >= score)
        idx = idx[np.argsort(-scores[idx])]
        while len(idx):
            best, idx = idx[0], idx[1:]
            dets.append([c, scores[best], *xyxy[best]])
            if len(idx):
                idx = idx[iou_matrix(xyxy[best][None], xyxy[idx])[0] < nms_iou]
    return np.asarray(dets, np.float32).reshape(-1, 6)


def match(dets: np.ndarray, truth: np.ndarray, nc: int) -> dict[str, np.ndarray]:
    """Per class: true positives, false positives, and which truth boxes were found (greedy by score at IoU >= 0.3)."""
    tp, fp = np.zeros(nc, int), np.zeros(nc, int)
    found = np.zeros(len(truth), bool)
    for c in range(nc):
        d = dets[dets[:, 0] == c]
        d = d[np.argsort(-d[:, 1])]
        t_idx = np.flatnonzero(truth[:, 0] == c)
        for det in d:
            if len(t_idx):
                ious = iou_matrix(det[None, 2:], truth[t_idx, 1:])[0]
                ious[found[t_idx]] = 0.0
                k = int(np.argmax(ious))
                if ious[k] >= IOU:
                    found[t_idx[k]] = True
                    tp[c] += 1
                    continue
            fp[c] += 1
    return {"tp": tp, "fp": fp, "found": found}


def score_frames(outputs: np.ndarray, truths: list[np.ndarray], score: float = SCORE) -> dict[str, Any]:
    """Precision / recall per label over frames (outputs N x 1 x (4 + nc) x cells)."""
    nc = len(dataset.LABELS)
    tp, fp = np.zeros(nc, int), np.zeros(nc, int)
    n_truth, n_found = np.zeros(nc, int), np.zeros(nc, int)
    n_vis, n_vis_found = np.zeros(nc, int), np.zeros(nc, int)
    for out, truth in zip(outputs, truths, strict=True):
        m = match(decode(out, score), truth, nc)
        tp += m["tp"]
        fp += m["fp"]
        visible = np.minimum(truth[:, 3] - truth[:, 1], truth[:, 4] - truth[:, 2]) >= MIN_SIDE
        for c in range(nc):
            of_c = truth[:, 0] == c
            n_truth[c] += of_c.sum()
            n_found[c] += (of_c & m["found"]).sum()
            n_vis[c] += (of_c & visible).sum()
            n_vis_found[c] += (of_c & visible & m["found"]).sum()
    per_label = {}
    for c, lab in enumerate(dataset.LABELS):
        per_label[lab] = {
            "precision": round(float(tp[c] / max(tp[c] + fp[c], 1)), 3),
            "recall": round(float(n_found[c] / max(n_truth[c], 1)), 3),
            f"recall_min_side_{int(MIN_SIDE)}px": round(float(n_vis_found[c] / max(n_vis[c], 1)), 3),
            "truth_boxes": int(n_truth[c]),
            "detections": int(tp[c] + fp[c]),
        }
    return per_label


def false_per_hour(outputs: np.ndarray, video_s: float, score: float = SCORE) -> dict[str, Any]:
    """Every detection on a distractor-only frame is false: count them, and frames with any, per hour of video."""
    dets = [decode(out, score) for out in outputs]
    counts = [len(d) for d in dets]
    labels = np.concatenate([d[:, 0] for d in dets]) if dets else np.zeros(0)
    hours = video_s / 3600.0
    return {
        "false_detections": int(sum(counts)),
        "false_detections_by_label": {lab: int((labels == i).sum()) for i, lab in enumerate(dataset.LABELS)},
        "frames_with_false_detections": int(sum(c > 0 for c in counts)),
        "frames": len(counts),
        "video_s": round(video_s, 1),
        "false_detections_per_hour": round(sum(counts) / hours, 1),
    }


def eval_plans(event_clips: int, distractor_clips: int, seconds: float) -> tuple[list, list]:
    """Held-out clips: seeds from EVAL_SEED_BASE, never rendered for training."""
    events = dataset.clip_plan(event_clips, dataset.EVAL_SEED_BASE, seconds, 2.0, 1, negatives=0.0)
    quiet = []
    for i in range(distractor_clips):
        seed = dataset.EVAL_SEED_BASE + 50_000 + i
        rng = random.Random(seed)
        spec = dict(
            scene=dataset.SCENES[i % len(dataset.SCENES)],
            seconds=seconds * 2,
            fps=5.0,
            width=640,
            height=360,
            seed=seed,
            time_of_day="night" if i % 4 == 3 else "day",
            rain=rng.random() < 0.3,
            shake=rng.choice([0.0, 1.0, 3.0]),
            events=[],
            distractors=list(dataset.DISTRACTORS),
        )
        quiet.append(dataset.ClipPlan(spec=spec, every=1, tags=["distractors"]))
    return events, quiet


def evaluate(
    model_dir: Path,
    event_clips: int = 30,
    distractor_clips: int = 12,
    seconds: float = 30.0,
    sim: ModuleType | None = None,
    workers: int = 1,
    write: bool = True,
) -> dict[str, Any]:
    """Run both runtimes over the held-out clips; returns the metrics, and with ``write`` puts them in the manifest."""
    doc = yaml.safe_load((model_dir / export.MANIFEST).read_text())
    tflite, xml = model_dir / doc["backends"]["litert"], model_dir / doc["backends"]["openvino"]
    ev_plans, quiet_plans = eval_plans(event_clips, distractor_clips, seconds)
    started = time.monotonic()
    ev = dataset.render(ev_plans, sim=sim, workers=workers)
    quiet = dataset.render(quiet_plans, sim=sim, workers=workers)
    render_s = time.monotonic() - started
    results: dict[str, Any] = {}
    for runtime, run, path in (("openvino", export.run_openvino, xml), ("litert", export.run_litert, tflite)):
        ev_out = run(path, ev.images.astype(np.float32) / 255.0)
        quiet_out = run(path, quiet.images.astype(np.float32) / 255.0)
        results[runtime] = {
            "ev": ev_out,
            "per_label": score_frames(ev_out, ev.boxes),
            "distractors": false_per_hour(quiet_out, sum(p.spec["seconds"] for p in quiet_plans)),
        }
    box_diff, score_diff = export.agreement(results["openvino"]["ev"], results["litert"]["ev"])
    metrics = {
        "eval_set": (
            f"{event_clips} held-out event clips ({seconds:.0f} s at 2 fps, {len(ev)} frames, seeds from "
            f"{dataset.EVAL_SEED_BASE}) and {distractor_clips} distractor-only clips ({seconds * 2:.0f} s at 5 fps, "
            f"{len(quiet)} frames); all three scenes, day and night, rain, shake; simulator scenes only"
        ),
        "iou_threshold": IOU,
        "score_threshold": SCORE,
        "nms_iou": NMS_IOU,
        "runtime": "openvino CPU (litert figures under litert)",
        "per_label": results["openvino"]["per_label"],
        "distractors": results["openvino"]["distractors"],
        "litert": {"per_label": results["litert"]["per_label"], "distractors": results["litert"]["distractors"]},
        "max_abs_diff_openvino_litert": {"box_px": float(f"{box_diff:.2e}"), "score": float(f"{score_diff:.2e}")},
    }
    print(f"rendered {len(ev) + len(quiet)} frames in {render_s:.0f} s")
    print(json.dumps(metrics, indent=1))
    if write:
        doc["metrics"] = metrics
        export.write_manifest(model_dir, doc)
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=_HERE, help="folder with manifest.yaml and the model files")
    parser.add_argument("--event-clips", type=int, default=30)
    parser.add_argument("--distractor-clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave the manifest alone")
    args = parser.parse_args(argv)
    evaluate(
        args.model, args.event_clips, args.distractor_clips, args.seconds, workers=args.workers, write=not args.no_write
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
