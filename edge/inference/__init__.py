"""Camera model inference: manifests, backends (OpenVINO, LiteRT), decoders. Importing registers the built-ins.

The backends' settings are declared in the contract (wire.nodeconfig.inference) and re-exported here.
"""

from edge.inference import litert_backend, openvino_backend  # noqa: F401 - registration side effect
from edge.inference.base import BACKENDS, Detector, InferenceBackend, register_backend
from edge.inference.decoders import DECODERS, Decoder, nms, register_decoder
from edge.inference.manifest import Manifest, ModelError, load_manifest
from wire.nodeconfig.inference import BackendConfig, LiteRtConfig, OpenVinoConfig

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
    "load_manifest",
    "nms",
    "register_backend",
    "register_decoder",
]
