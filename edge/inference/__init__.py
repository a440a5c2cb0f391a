"""Camera model inference: manifests, backends (OpenVINO, LiteRT), decoders. Importing registers the built-ins."""

from edge.inference import litert_backend, openvino_backend  # noqa: F401 - registration side effect
from edge.inference.base import (
    BACKENDS,
    BackendConfig,
    Detector,
    InferenceBackend,
    backend_config_union,
    register_backend,
)
from edge.inference.decoders import DECODERS, Decoder, nms, register_decoder
from edge.inference.litert_backend import LiteRtConfig
from edge.inference.manifest import Manifest, ModelError, load_manifest
from edge.inference.openvino_backend import OpenVinoConfig

__all__ = [
    "BACKENDS",
    "DECODERS",
    "BackendConfig",
    "Decoder",
    "Detector",
    "InferenceBackend",
    "LiteRtConfig",
    "Manifest",
    "ModelError",
    "OpenVinoConfig",
    "backend_config_union",
    "load_manifest",
    "nms",
    "register_backend",
    "register_decoder",
]
