"""Export trained weights to a static-shape TFLite file and OpenVINO IR, check both agree, and write the manifest.

python models/fire_smoke/export.py --weights models/fire_smoke/fire_smoke.weights.h5 --out models/fire_smoke
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
# models/ is not an installed package: put it (for ``fire_smoke.*``) and the repo root (for ``simulators``) on the path.
for _p in (str(_HERE.parent), str(_HERE.parents[1])):
    if _p not in sys.path:
        sys.path.insert(0, _p)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from fire_smoke import dataset  # noqa: E402

TFLITE = "fire_smoke.tflite"
XML = "fire_smoke.xml"
BIN = "fire_smoke.bin"
MANIFEST = "manifest.yaml"
VERSION = "2026.11.22.2"
# Both files are float32: the runtimes differ only by kernel rounding. Box rows are pixels (0-192), score rows 0-1.
AGREE_BOX_PX = 0.01
AGREE_SCORE = 1e-4


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_tflite(weights: Path, out: Path) -> Path:
    """Backbone + in-model decoding to a TFLite flatbuffer with the static input 1 x 192 x 192 x 3."""
    import tensorflow as tf

    from fire_smoke import network

    backbone = network.build_backbone()
    backbone.load_weights(weights)
    image = tf.keras.Input((dataset.INPUT_SIZE, dataset.INPUT_SIZE, 3), batch_size=1, name="image")
    decoded = tf.keras.layers.Lambda(network.ultralytics_output, name="decode")(backbone(image))
    # Converting a Keras model freezes its variables; a bare concrete function keeps RESOURCE tensors OpenVINO rejects.
    converter = tf.lite.TFLiteConverter.from_keras_model(tf.keras.Model(image, decoded))
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints every captured variable while exporting
        flatbuffer = converter.convert()
    path = out / TFLITE
    path.write_bytes(flatbuffer)
    return path


def to_openvino(tflite: Path, out: Path) -> Path:
    """OpenVINO reads the TFLite file directly; the batch is pinned to 1 and the weights kept in fp32."""
    import openvino as ov

    model = ov.convert_model(str(tflite))
    if model.input(0).get_partial_shape().is_dynamic:
        model.reshape([1, dataset.INPUT_SIZE, dataset.INPUT_SIZE, 3])
    path = out / XML
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def run_litert(tflite: Path, images: np.ndarray) -> np.ndarray:
    """Outputs of the TFLite file on each image (N x 1 x (4 + nc) x cells) with ai-edge-litert."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite), num_threads=1)
    interp.allocate_tensors()
    inp, outp = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    outs = []
    for img in images:
        interp.set_tensor(inp, img[None].astype(np.float32))
        interp.invoke()
        outs.append(interp.get_tensor(outp).copy())
    return np.stack(outs)


def run_openvino(xml: Path, images: np.ndarray) -> np.ndarray:
    """Outputs of the IR on each image on the OpenVINO CPU device."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    req = compiled.create_infer_request()
    return np.stack([req.infer([img[None].astype(np.float32)])[0].copy() for img in images])


def agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Max absolute difference of two runtimes' outputs (N x 1 x (4 + nc) x cells): box rows, score rows."""
    diff = np.abs(a - b)
    return float(diff[:, :, :4].max()), float(diff[:, :, 4:].max())


def check_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """``agreement``, raising when it is outside AGREE_BOX_PX / AGREE_SCORE."""
    box, score = agreement(a, b)
    if not (box <= AGREE_BOX_PX and score <= AGREE_SCORE):
        raise RuntimeError(
            f"TFLite and OpenVINO outputs differ by {box:.2e} px in boxes and {score:.2e} in scores "
            f"(allowed {AGREE_BOX_PX} px, {AGREE_SCORE})"
        )
    return box, score


def manifest(out: Path, output_shape: list[int], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest (contract B) for the files in ``out``, with their sha256."""
    doc: dict[str, Any] = {
        "name": "fire-smoke-synth",
        "version": VERSION,
        "synthetic": True,
        "description": (
            "Small fire / smoke / flood detector trained only on synthetic scenes from the iocgw camera simulator "
            "(simulators/camera). Not fit for real deployment as is: replace it with a model trained on real imagery. "
            f"Letterbox padding value {dataset.PAD_VALUE}."
        ),
        "task": "detect",
        "labels": list(dataset.LABELS),
        "input": {
            "width": dataset.INPUT_SIZE,
            "height": dataset.INPUT_SIZE,
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
    path = out / MANIFEST
    header = "# Written by models/fire_smoke/export.py and evaluate.py; trained on synthetic simulator scenes only.\n"
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def export(weights: Path, out: Path, check_images: int = 8, seed: int = 0) -> dict[str, Any]:
    """Write the TFLite file, the IR and the manifest (without metrics) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    tflite = to_tflite(weights, out)
    xml = to_openvino(tflite, out)
    rng = np.random.default_rng(seed)
    images = rng.random((check_images, dataset.INPUT_SIZE, dataset.INPUT_SIZE, 3), dtype=np.float32)
    outputs = run_litert(tflite, images)
    box, score = check_agreement(outputs, run_openvino(xml, images))
    # New files make any earlier metrics stale: evaluate.py measures and adds them again.
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
