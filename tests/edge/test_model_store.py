"""Model updates: fetched over real HTTP, verified, swapped atomically, self-tested in OpenVINO, rolled back."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import openvino as ov
import pytest
import yaml
from openvino import opset13 as ops

from edge.model_store import ModelStore, ModelUpdateError
from wire.nodeconfig import ModelSource


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_model(folder: Path, version: str, output_shape: list[int] | None = None) -> Path:
    """A tiny real OpenVINO IR (32x32 in, YOLO-layout [1, 5, 4] out) and its manifest."""
    folder.mkdir(parents=True)
    x = ops.parameter([1, 32, 32, 3], np.float32, name="images")
    mean = ops.reshape(ops.reduce_mean(x, [1, 2, 3], keep_dims=False), [1, 1, 1], special_zero=False)
    boxes = np.zeros((1, 5, 4), np.float32)
    boxes[0, :4, :] = [[16], [16], [8], [8]]  # every cell: a box in the middle, score 0
    out = ops.add(ops.multiply(mean, np.float32(0)), boxes)
    ov.save_model(ov.Model([out], [x], "tiny"), folder / "m.xml", compress_to_fp16=False)
    manifest = {
        "name": "tiny",
        "version": version,
        "synthetic": True,
        "labels": ["fire"],
        "input": {"width": 32, "height": 32},
        "decoder": "yolo",
        "output_shape": output_shape or [1, 5, 4],
        "files": {"m.xml": _sha(folder / "m.xml"), "m.bin": _sha(folder / "m.bin")},
        "backends": {"openvino": "m.xml"},
    }
    (folder / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    return folder / "manifest.yaml"


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _source(root: Path, base: str, version: str) -> ModelSource:
    manifest = root / "tiny" / version / "manifest.yaml"
    return ModelSource(name="tiny", version=version, url=f"{base}/tiny/{version}/manifest.yaml", sha256=_sha(manifest))


def test_update_then_upgrade_keeps_current_atomic(tmp_path, server):
    root, base = server
    make_model(root / "tiny" / "1", "1")
    make_model(root / "tiny" / "2", "2")
    store = ModelStore(tmp_path / "models")
    first = store.update(_source(root, base, "1"))
    assert first.changed and first.previous is None and store.current("tiny") == "1"
    assert store.update(_source(root, base, "1")).changed is False
    second = store.update(_source(root, base, "2"))
    assert (second.previous, store.current("tiny")) == ("1", "2")
    assert (store.current_link("tiny") / "manifest.yaml").read_text().count("version: '2'") == 1
    assert store.installed() == {"tiny": "2"}


def test_a_tampered_file_never_lands(tmp_path, server):
    root, base = server
    make_model(root / "tiny" / "1", "1")
    make_model(root / "tiny" / "2", "2")
    store = ModelStore(tmp_path / "models")
    store.update(_source(root, base, "1"))
    source = _source(root, base, "2")
    (root / "tiny" / "2" / "m.bin").write_bytes(b"\0" * 64)  # the manifest still pins the old digest
    with pytest.raises(ModelUpdateError, match=r"files\.m\.bin: sha256"):
        store.update(source)
    assert store.current("tiny") == "1"
    assert sorted(p.name for p in (tmp_path / "models" / "tiny").iterdir()) == ["1", "current"]


def test_a_wrong_manifest_digest_is_refused(tmp_path, server):
    root, base = server
    make_model(root / "tiny" / "1", "1")
    bad = _source(root, base, "1").model_copy(update={"sha256": "0" * 64})
    with pytest.raises(ModelUpdateError, match="sha256 is"):
        ModelStore(tmp_path / "models").update(bad)
    assert ModelStore(tmp_path / "models").current("tiny") is None


def test_a_model_that_fails_its_self_test_is_rolled_back(tmp_path, server):
    root, base = server
    make_model(root / "tiny" / "1", "1")
    make_model(root / "tiny" / "2", "2", output_shape=[1, 5, 9])  # the real model gives [1, 5, 4]
    store = ModelStore(tmp_path / "models")
    store.update(_source(root, base, "1"))
    with pytest.raises(ModelUpdateError, match="rolled back to 1") as info:
        store.update(_source(root, base, "2"))
    assert "output_shape" in str(info.value)
    assert store.current("tiny") == "1"
