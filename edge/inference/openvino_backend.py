"""OpenVINO backend: IR (.xml), ONNX or TFLite on CPU, GPU or NPU."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.inference.base import InferenceBackend, check_shape, register_backend
from edge.inference.manifest import Manifest, ModelError
from wire.nodeconfig.inference import OpenVinoConfig


@register_backend("openvino", OpenVinoConfig)
class OpenVinoBackend(InferenceBackend):
    config: OpenVinoConfig

    def __init__(self, config: OpenVinoConfig) -> None:
        super().__init__(config)
        self._request: Any = None

    def load(self, manifest: Manifest) -> None:
        try:
            import openvino as ov
        except ImportError:
            raise ModelError("backend openvino needs the `openvino` package (pip install openvino)") from None
        path = manifest.file_for("openvino")
        core = ov.Core()
        if self.config.device.split(".")[0].split(":")[0] not in {"AUTO", "HETERO", "MULTI"}:
            available = core.available_devices
            if not any(d.startswith(self.config.device) for d in available):
                raise ModelError(f"backend openvino: device {self.config.device} not present (has: {available})")
        try:
            model = core.read_model(str(path))
        except Exception as exc:
            raise manifest.error("backends.openvino", f"cannot read {path}: {exc}") from None
        if len(model.inputs) != 1:
            raise manifest.error("input", f"the model {path.name} has {len(model.inputs)} inputs; one is supported")
        expected = manifest.input.shape()
        pshape = model.inputs[0].get_partial_shape()
        if pshape.is_dynamic:
            # A dynamic export (batch -1, or any size) is pinned to the manifest's static batch-1 shape.
            if pshape.rank.is_static and pshape.rank.get_length() != len(expected):
                raise manifest.error("input", f"the model {path.name} has input rank {pshape.rank}, expected 4")
            try:
                model.reshape({model.inputs[0]: ov.PartialShape(expected)})
            except Exception as exc:
                raise manifest.error("input", f"cannot reshape {path.name} to {expected}: {exc}") from None
        check_shape(manifest, "input", list(model.inputs[0].get_shape()), expected, path.name)
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.config.precision and self.config.device.split(".")[0] in {"CPU", "GPU"}:
            config["INFERENCE_PRECISION_HINT"] = self.config.precision
        if self.config.threads and self.config.device.startswith("CPU"):
            config["INFERENCE_NUM_THREADS"] = self.config.threads
        if self.config.device.startswith("CPU"):
            config["ENABLE_CPU_PINNING"] = self.config.pin_threads
        compiled = core.compile_model(model, self.config.device, config)
        check_shape(manifest, "output", list(compiled.outputs[0].get_shape()), manifest.output_shape, path.name)
        self._request = compiled.create_infer_request()

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        self._request.infer({0: tensor})
        return np.array(self._request.get_output_tensor(0).data, copy=True)

    def close(self) -> None:
        self._request = None
