"""Export the real-imagery detector to static-shape TFLite and OpenVINO IR, check both agree, write the manifest.

python models/fire_smoke_real/export.py --weights DIR/fire_smoke_real.weights.h5 --out models/fire_smoke_real
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from fire_smoke.export import check_agreement, run_litert, run_openvino, sha256  # noqa: E402

TFLITE = "fire_smoke_real.tflite"
XML = "fire_smoke_real.xml"
BIN = "fire_smoke_real.bin"
MANIFEST = "manifest.yaml"
NAME = "fire-smoke-real"
VERSION = "2026.12.03.1"
HEADER = (
    "# Written by models/fire_smoke_real/export.py and evaluate.py: trained on real, openly licensed imagery\n"
    "# (models/fire_smoke_real/DATASETS.md); metrics from the held-out real split and the tower sequences.\n"
)


def to_tflite(weights: Path, out: Path) -> Path:
    """Network + in-model decoding to a TFLite flatbuffer with the static input 1 x 320 x 320 x 3."""
    import tensorflow as tf

    from fire_smoke_real import network

    model = network.build()
    model.load_weights(weights)
    image = tf.keras.Input((network.INPUT_SIZE, network.INPUT_SIZE, 3), batch_size=1, name="image")
    decoded = tf.keras.layers.Lambda(network.ultralytics_output, name="decode")(model(image))
    converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(image, decoded))
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints every captured variable while exporting
        flatbuffer = converter.convert()
    path = out / TFLITE
    path.write_bytes(flatbuffer)
    return path


def to_openvino(tflite: Path, out: Path, size: int) -> Path:
    """OpenVINO reads the TFLite file directly; batch pinned to 1, weights kept in fp32."""
    import openvino as ov

    model = ov.convert_model(str(tflite))
    if model.input(0).get_partial_shape().is_dynamic:
        model.reshape([1, size, size, 3])
    path = out / XML
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def manifest(out: Path, output_shape: list[int], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from fire_smoke_real import data, network

    doc: dict[str, Any] = {
        "name": NAME,
        "version": VERSION,
        "synthetic": False,
        "description": (
            "Fire and smoke detector: EfficientNet-Lite0 (ImageNet) fine-tuned on real, openly licensed photographs "
            "and CCTV frames (CC BY 4.0, see models/fire_smoke_real/DATASETS.md). No flood class: flood on cameras "
            f"is the water-line rule. Letterbox padding value {data.PAD_VALUE}."
        ),
        "task": "detect",
        "labels": list(network.LABELS),
        "input": {
            "width": network.INPUT_SIZE,
            "height": network.INPUT_SIZE,
            "layout": "NHWC",
            "pixel_format": "RGB",
            "dtype": "float32",
            "scale": 255.0,
            "mean": [0.0, 0.0, 0.0],
            "resize": "letterbox",
        },
        "decoder": "yolo",
        "decoder_options": {"boxes": "pixels"},
        "output_shape": output_shape,
        "files": {name: sha256(out / name) for name in (TFLITE, XML, BIN)},
        "backends": {"openvino": XML, "litert": TFLITE},
    }
    doc.update(extra or {})
    return doc


def write_manifest(out: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc``; a manifest already there keeps its header comment (the INT8 variant's says what made it)."""
    path = out / MANIFEST
    header = HEADER
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        kept = "".join(line for line in lines[: next((i for i, x in enumerate(lines) if not x.startswith("#")), 0)])
        header = kept or HEADER
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def export(weights: Path, out: Path, check_images: int = 8, seed: int = 0) -> dict[str, Any]:
    """Write the TFLite file, the IR and the manifest (without metrics: evaluate.py adds them) into ``out``."""
    from fire_smoke_real import network

    out.mkdir(parents=True, exist_ok=True)
    tflite = to_tflite(weights, out)
    xml = to_openvino(tflite, out, network.INPUT_SIZE)
    rng = np.random.default_rng(seed)
    images = rng.random((check_images, network.INPUT_SIZE, network.INPUT_SIZE, 3), dtype=np.float32)
    outputs = run_litert(tflite, images)
    box, score = check_agreement(outputs, run_openvino(xml, images))
    doc = manifest(out, list(outputs.shape[1:]))
    write_manifest(out, doc)
    print(f"exported {tflite.name}, {xml.name}; runtimes agree within {box:.1e} px, {score:.1e}; {doc['output_shape']}")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    export(args.weights, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
