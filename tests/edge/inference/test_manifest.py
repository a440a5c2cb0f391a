"""Manifest validation: every fault names the manifest file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.inference import Detector, LiteRtConfig, ModelError, OpenVinoConfig, load_manifest


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src.parent, dst)
    return dst / "manifest.yaml"


def test_good_manifest_loads(tiny_manifest: Path) -> None:
    m = load_manifest(tiny_manifest)
    assert m.labels == ["fire", "smoke", "flood"] and m.input.shape() == [1, 64, 64, 3]
    assert m.file_for("litert").name == "tiny.tflite"


def test_bad_sha(tiny_manifest: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    with (path.parent / "tiny.bin").open("r+b") as fh:
        fh.seek(10)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(
        ModelError, match=r"manifest\.yaml: files\.tiny\.bin: sha256 is [0-9a-f]{64}, the manifest says"
    ):
        load_manifest(path)


def test_missing_file(tiny_manifest: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    (path.parent / "tiny.tflite").unlink()
    with pytest.raises(ModelError, match=r"manifest\.yaml: files\.tiny\.tflite: file .* does not exist"):
        load_manifest(path)


def test_schema_error_has_line_and_field(tiny_manifest: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    path.write_text(path.read_text().replace("layout: NHWC", "layout: NWHC"))
    with pytest.raises(ModelError, match=r"manifest\.yaml: line \d+: input\.layout"):
        load_manifest(path)


def test_backend_file_must_be_listed(tiny_manifest: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    path.write_text(path.read_text().replace("litert: tiny.tflite", "litert: other.tflite"))
    with pytest.raises(ModelError, match=r"backends\.litert: file 'other\.tflite' is not listed"):
        load_manifest(path)


@pytest.mark.parametrize("backend", [OpenVinoConfig(), LiteRtConfig()], ids=["openvino", "litert"])
def test_wrong_output_shape_is_caught_at_load(tiny_manifest: Path, tmp_path: Path, backend: object) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    path.write_text(path.read_text().replace("output_shape: [1, 7, 16]", "output_shape: [1, 7, 144]"))
    with pytest.raises(
        ModelError,
        match=r"output_shape: the model tiny\.\w+ has output shape \[1, 7, 16\], the manifest says \[1, 7, 144\]",
    ):
        Detector.load(load_manifest(path), backend)  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", [OpenVinoConfig(), LiteRtConfig()], ids=["openvino", "litert"])
def test_wrong_input_shape_is_caught_at_load(tiny_manifest: Path, tmp_path: Path, backend: object) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    path.write_text(path.read_text().replace("width: 64", "width: 96"))
    with pytest.raises(
        ModelError,
        match=r"input: the model tiny\.\w+ has input shape \[1, 64, 64, 3\], the manifest says \[1, 64, 96, 3\]",
    ):
        Detector.load(load_manifest(path), backend)  # type: ignore[arg-type]


def test_unknown_decoder_named(tiny_manifest: Path, tmp_path: Path) -> None:
    path = copy_model(tiny_manifest, tmp_path / "m")
    path.write_text(path.read_text().replace("decoder: yolo", "decoder: yolo-nas"))
    with pytest.raises(ModelError, match=r"manifest\.yaml: decoder: no decoder 'yolo-nas'"):
        Detector.load(load_manifest(path), LiteRtConfig())


def test_missing_device(tiny_manifest: Path) -> None:
    with pytest.raises(ModelError, match="device NPU not present"):
        Detector.load(load_manifest(tiny_manifest), OpenVinoConfig(device="NPU"))
