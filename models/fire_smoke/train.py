"""Train the synthetic fire / smoke / flood detector on simulator scenes and export it (TFLite, OpenVINO IR, manifest).

python models/fire_smoke/train.py --budget full --out models/fire_smoke --seed 1
python models/fire_smoke/train.py --budget tiny --out /tmp/fs      # CI: proves the script still works end to end
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).resolve().parent
# models/ is not an installed package: put it (for ``fire_smoke.*``) and the repo root (for ``simulators``) on the path.
for _p in (str(_HERE.parent), str(_HERE.parents[1])):
    if _p not in sys.path:
        sys.path.insert(0, _p)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from fire_smoke import dataset  # noqa: E402

WEIGHTS = "fire_smoke.weights.h5"
RECORD = "train_record.json"


@dataclass(frozen=True)
class Budget:
    """How much data and training one run gets."""

    clips: int
    seconds: float
    fps: float
    every: int
    negatives: float
    crops: float
    epochs: int
    batch: int
    lr: float
    hard_clips: int = 0  # extra event-free clips full of smoke look-alikes (dataset.hard_negative_plan)
    hard_crops: float = 0.6


BUDGETS = {
    "tiny": Budget(
        clips=6, seconds=3.0, fps=2.0, every=1, negatives=0.3, crops=0.3, epochs=1, batch=12, lr=2e-3, hard_clips=2
    ),
    # Sized for about 35 minutes on a 2-core machine: many short, sparsely sampled clips beat long ones.
    "full": Budget(
        clips=600,
        seconds=40.0,
        fps=0.25,
        every=1,
        negatives=0.3,
        crops=0.3,
        epochs=24,
        batch=32,
        lr=3e-3,
        hard_clips=240,
    ),
}


def _augment(images: np.ndarray, boxes: list[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, list]:
    """Horizontal flips and brightness / contrast jitter; the letterbox borders stay grey as at inference."""
    out = images.astype(np.float32) / 255.0
    new_boxes = []
    for i in range(len(out)):
        b = boxes[i].copy()
        if rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
            b[:, [1, 3]] = dataset.INPUT_SIZE - b[:, [3, 1]]
        gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-0.08, 0.08)
        out[i] = np.clip((out[i] - 0.5) * gain + 0.5 + bias, 0.0, 1.0)
        new_boxes.append(b)
    return out, new_boxes


def _rendered(plans: list, sim: ModuleType | None, workers: int, cache: Path | None) -> dataset.FrameSet:
    """Render the clips, or load them from ``cache`` (written on the first run): same plans, same frames."""
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            counts = z["counts"]
            return dataset.FrameSet(z["images"], np.split(z["boxes"], np.cumsum(counts)[:-1]), z["clip"])
    data = dataset.render(plans, sim=sim, workers=workers)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        counts = np.asarray([len(b) for b in data.boxes])
        boxes = np.concatenate(data.boxes) if data.boxes else np.zeros((0, 5), np.float32)
        np.savez(cache, images=data.images, boxes=boxes, counts=counts, clip=data.clip)
    return data


def train(
    budget_name: str,
    out: Path,
    seed: int,
    sim: ModuleType | None = None,
    workers: int = 1,
    init: Path | None = None,
    cache: Path | None = None,
) -> dict:
    """Render the training clips, train (from ``init`` weights if given), save the weights and a record of the run."""
    import tensorflow as tf

    from fire_smoke import network

    budget = BUDGETS[budget_name]
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    plans = dataset.clip_plan(
        budget.clips,
        dataset.TRAIN_SEED_BASE,
        budget.seconds,
        budget.fps,
        budget.every,
        budget.negatives,
        budget.crops,
    ) + dataset.hard_negative_plan(budget.hard_clips, budget.seconds, budget.fps, budget.hard_crops)
    # The cache is named after the plans themselves, so a changed plan never trains on stale frames.
    digest = hashlib.sha256(json.dumps([p.spec for p in plans], sort_keys=True, default=str).encode()).hexdigest()
    data = _rendered(plans, sim, workers, cache / f"fire_smoke-{budget_name}-{digest[:12]}.npz" if cache else None)
    render_s = time.monotonic() - started
    n = len(data)
    label_counts = {lab: int(sum((b[:, 0] == i).sum() for b in data.boxes)) for i, lab in enumerate(dataset.LABELS)}
    print(f"rendered {n} frames from {len(plans)} clips in {render_s:.0f} s; boxes {label_counts}", flush=True)

    model = network.build_backbone()
    if init is not None:
        model.load_weights(init)
    steps_per_epoch = max(1, n // budget.batch)
    schedule = tf.keras.optimizers.schedules.CosineDecay(budget.lr, steps_per_epoch * budget.epochs, warmup_target=None)
    opt = tf.keras.optimizers.Adam(schedule, global_clipnorm=10.0)

    @tf.function(reduce_retracing=True)
    def step(x: tf.Tensor, t: tf.Tensor) -> dict:
        with tf.GradientTape() as tape:
            parts = network.loss(model(x, training=True), t)
        grads = tape.gradient(parts["total"], model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return parts

    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(budget.epochs):
        order = rng.permutation(n)
        sums: dict[str, float] = {}
        for s in range(steps_per_epoch):
            idx = np.sort(order[s * budget.batch : (s + 1) * budget.batch])
            x, b = _augment(data.images[idx], [data.boxes[i] for i in idx], rng)
            parts = step(tf.constant(x), tf.constant(network.targets(b)))
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        mean = {k: round(v / steps_per_epoch, 4) for k, v in sums.items()}
        if not np.isfinite(mean["total"]):
            raise RuntimeError(f"training diverged in epoch {epoch + 1}: {mean}")
        history.append(mean)
        print(f"epoch {epoch + 1}/{budget.epochs} {mean} ({time.monotonic() - started:.0f} s)", flush=True)

    model.save_weights(out / WEIGHTS)
    record = {
        "budget": budget_name,
        "settings": asdict(budget),
        "seed": seed,
        "init": str(init) if init else None,
        "clip_seeds": [plans[0].spec["seed"], plans[budget.clips - 1].spec["seed"]],
        "hard_negative_seeds": [p.spec["seed"] for p in plans[budget.clips :: max(1, budget.hard_clips - 1)]],
        "frames": n,
        "negative_frames": int(sum(len(b) == 0 for b in data.boxes)),
        "boxes": label_counts,
        "parameters": int(model.count_params()),
        "render_s": round(render_s, 1),
        "train_s": round(time.monotonic() - started - render_s, 1),
        "history": history,
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "numpy": np.__version__},
    }
    (out / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="tiny")
    parser.add_argument("--out", type=Path, required=True, help="folder for weights, model files and manifest")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="processes rendering the clips")
    parser.add_argument("--init", type=Path, help="start from these weights (a .weights.h5 of an earlier run)")
    parser.add_argument("--cache", type=Path, help="folder to keep the rendered frames in between runs")
    parser.add_argument("--no-export", action="store_true", help="train only; export later with export.py")
    args = parser.parse_args(argv)
    train(args.budget, args.out, args.seed, workers=args.workers, init=args.init, cache=args.cache)
    if not args.no_export:
        from fire_smoke import export

        export.export(args.out / WEIGHTS, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
