"""Camera settings in the node config: defaults that work, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.inference import BACKENDS, DECODERS
from plumbing.configfile import ConfigError, parse_yaml_model
from wire.nodeconfig import NodeConfig

ROOT = Path(__file__).resolve().parents[3]

NODE = """
node_id: cam-node
cameras:
  - id: ridge
    source: rtsp://10.0.0.21/stream1
    model: models/fire_smoke/manifest.yaml
"""


def test_minimal_camera_gets_working_defaults() -> None:
    cfg = parse_yaml_model(NODE, NodeConfig)
    cam = cfg.cameras[0]
    assert cam.fps == 5.0 and cam.stale_s == 20.0 and cam.backend.type == "openvino" and cam.backend.device == "CPU"
    assert cam.confirm.min_hits <= cam.confirm.window and cam.motion.enabled and cam.snapshot.height == 270
    assert cam.rule("smoke").min_score == 0.5


def test_litert_backend_and_zones() -> None:
    text = NODE + "    backend: {type: litert, threads: 2}\n    zones: {ridge: [[0, 0], [1, 0], [1, 1]]}\n"
    cam = parse_yaml_model(text, NodeConfig).cameras[0]
    assert cam.backend.type == "litert" and cam.backend.threads == 2 and "ridge" in cam.zones


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ("    backend: {type: tensorrt}\n", "cameras.0.backend"),
        ("    confirm: {window: 3, min_hits: 4}\n", "cameras.0.confirm"),
        ("    zones: {ridge: [[0, 0], [1.5, 0], [1, 1]]}\n", "cameras.0.zones.ridge"),
        ("    masks: [[[0, 0], [1, 0]]]\n", "cameras.0.masks.0"),
        ("    fps: 0\n", "cameras.0.fps"),
    ],
)
def test_bad_settings_name_line_and_field(extra: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_yaml_model(NODE + extra, NodeConfig, source="node.yaml")
    assert any(field in p and p.startswith("line ") for p in err.value.problems), err.value.problems


def test_duplicate_camera_ids() -> None:
    text = NODE + "  - {id: ridge, source: a.avi, model: m.yaml}\n"
    with pytest.raises(ConfigError, match="camera id 'ridge' appears twice"):
        parse_yaml_model(text, NodeConfig)


def test_every_backend_and_decoder_is_documented() -> None:
    doc = (ROOT / "docs" / "camera.md").read_text()
    for name in BACKENDS.names() + DECODERS.names():
        assert f"`{name}`" in doc, f"{name} missing from docs/camera.md"
