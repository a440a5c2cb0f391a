"""INT8 post-training quantization of the exported real-imagery detector (OpenVINO IR, NNCF), for nodes whose CPU
must hold many cameras.

python models/fire_smoke_real/quantize.py --model models/fire_smoke_real --data DATA --out models/fire_smoke_real/int8

Calibration: every n-th image of the training split (never the held-out split, the negatives or the towers), put
through the node's own pre-processing so the quantizer sees exactly the tensors a camera feeds the model. The fp32
and INT8 outputs are compared on the validation split and the differences printed; the accuracy that counts comes
from evaluate.py on the INT8 manifest (written into its metrics with --write), like the fp32 model's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent.parent
for p in (_HERE.parent, _ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

from fire_smoke.export import sha256  # noqa: E402

XML = "fire_smoke_real_int8.xml"
BIN = "fire_smoke_real_int8.bin"
NAME = "fire-smoke-real-int8"
HEADER = (
    "# Written by models/fire_smoke_real/quantize.py and evaluate.py: the fire-smoke-real model quantized to INT8\n"
    "# (OpenVINO + NNCF post-training quantization); metrics measured on the INT8 model itself.\n"
)


def tensors(data: Path, split: str, count: int, spec: Any) -> list[np.ndarray]:
    """``count`` images spread over ``split``, as the node's pre-processing makes them."""
    from edge.inference.preprocess import prepare

    items = [e for e in json.loads((data / "index.json").read_text()) if e["split"] == split]
    if not items:
        raise SystemExit(f"{data / 'index.json'}: no {split} images (is this the folder prepare.py built?)")
    step = max(1, len(items) // count)
    out = []
    for e in items[::step][:count]:
        img = cv2.imread(str(data / e["file"]), cv2.IMREAD_COLOR)
        if img is None:
            raise SystemExit(f"{data / e['file']}: not an image")
        out.append(prepare(img, spec)[0])
    return out


def head_ops(model: Any, convs: int = 2) -> list[str]:
    """The last ``convs`` convolutions (2: the box and class outputs) and the grid decoding after them, kept fp32.

    Quantized, the box regression loses most (fire AP@0.5 fell from 0.45 to 0.35 with only the decoding kept in
    fp32, 0.42 with the two output convolutions too): a box edge is one output channel read off a 20x20 grid, where
    one INT8 step is several pixels. Keeping the whole neck in fp32 as well (8) gained no accuracy and cost 60 % in
    speed (INT8 and fp32 alternating).
    """
    ops = list(model.get_ordered_ops())
    conv_at = [i for i, op in enumerate(ops) if op.get_type_name() in {"Convolution", "GroupConvolution"}]
    first = conv_at[-convs]
    return [op.get_friendly_name() for op in ops[first:] if op.get_type_name() not in {"Constant", "Result"}]


def quantize(
    model_dir: Path,
    data: Path,
    out: Path,
    subset: int = 300,
    check: int = 100,
    head_convs: int = 2,
    fast_bias: bool = False,
) -> dict[str, Any]:
    import nncf
    import openvino as ov

    from edge.inference import load_manifest

    manifest = load_manifest(model_dir / "manifest.yaml")
    fp32_path = model_dir / manifest.backends["openvino"]
    calibration = tensors(data, "train", subset, manifest.input)
    core = ov.Core()
    model = core.read_model(str(fp32_path))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(calibration),
        preset=nncf.QuantizationPreset.MIXED,  # asymmetric activations: the letterbox grey and dark frames
        subset_size=len(calibration),
        ignored_scope=nncf.IgnoredScope(names=head_ops(model, head_convs), validate=False),
        fast_bias_correction=fast_bias,
    )
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out / XML), compress_to_fp16=False)

    # Agreement on images the quantizer never saw: the largest score change, and boxes of confident detections.
    ref = core.compile_model(str(fp32_path), "CPU").create_infer_request()
    q = core.compile_model(str(out / XML), "CPU").create_infer_request()
    score_diff, box_diff = [], []
    for t in tensors(data, "val", check, manifest.input):
        a = np.array(ref.infer({0: t})[0])[0]
        b = np.array(q.infer({0: t})[0])[0]
        score_diff.append(float(np.abs(a[4:] - b[4:]).max()))
        confident = a[4:].max(axis=0) >= 0.5
        if confident.any():
            box_diff.append(float(np.abs(a[:4, confident] - b[:4, confident]).max()))
    agreement = {
        "images": len(score_diff),
        "score_abs_diff_p50": round(float(np.median(score_diff)), 4),
        "score_abs_diff_max": round(float(np.max(score_diff)), 4),
        "confident_box_px_diff_p50": round(float(np.median(box_diff)), 2) if box_diff else None,
    }
    doc = yaml.safe_load((model_dir / "manifest.yaml").read_text())
    doc.pop("metrics", None)
    doc["name"] = NAME
    doc["description"] = (
        f"{manifest.name} {manifest.version} quantized to INT8 (NNCF post-training quantization, calibrated on "
        f"{len(calibration)} of its training images): about twice as fast on a CPU, for nodes with many cameras. "
        "OpenVINO only. " + manifest.description
    )
    doc["files"] = {name: sha256(out / name) for name in (XML, BIN)}
    doc["backends"] = {"openvino": XML}
    record = {
        "source_model": f"{manifest.name} {manifest.version}",
        "method": "NNCF post-training quantization, preset mixed",
        "calibration": f"{len(calibration)} images spread over the training split",
        "agreement_with_fp32_on_val": agreement,
    }
    (out / "quantize_record.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "manifest.yaml").write_text(HEADER + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return agreement


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="folder with the fp32 manifest.yaml and IR")
    parser.add_argument("--data", type=Path, required=True, help="the folder prepare.py built")
    parser.add_argument("--out", type=Path, required=True, help="folder for the INT8 IR and its manifest")
    parser.add_argument("--subset", type=int, default=300, help="calibration images from the training split (300)")
    parser.add_argument("--head-convs", type=int, default=2, help="last convolutions kept in fp32 (2: the outputs)")
    parser.add_argument(
        "--fast-bias-correction", action="store_true", help="NNCF's quicker bias correction (less accurate here)"
    )
    args = parser.parse_args(argv)
    figures = quantize(
        args.model,
        args.data,
        args.out,
        args.subset,
        head_convs=args.head_convs,
        fast_bias=args.fast_bias_correction,
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
