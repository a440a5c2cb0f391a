"""LiteRT (TensorFlow Lite) backend: ``ai_edge_litert``, or ``tflite_runtime`` where that is what a device has."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.inference.base import InferenceBackend, check_shape, register_backend
from edge.inference.manifest import Manifest, ModelError
from wire.nodeconfig.inference import LiteRtConfig


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ModelError(
                "backend litert needs the `ai-edge-litert` package (or `tflite-runtime` on small devices)"
            ) from None
    return Interpreter


@register_backend("litert", LiteRtConfig)
class LiteRtBackend(InferenceBackend):
    config: LiteRtConfig

    def __init__(self, config: LiteRtConfig) -> None:
        super().__init__(config)
        self._interp: Any = None
        self._in: dict[str, Any] = {}
        self._out: dict[str, Any] = {}

    def load(self, manifest: Manifest) -> None:
        interpreter = _interpreter_class()
        path = manifest.file_for("litert")
        try:
            interp = interpreter(model_path=str(path), num_threads=self.config.threads)
        except Exception as exc:
            raise manifest.error("backends.litert", f"cannot read {path}: {exc}") from None
        inputs = interp.get_input_details()
        if len(inputs) != 1:
            raise manifest.error("input", f"the model {path.name} has {len(inputs)} inputs; one is supported")
        expected = manifest.input.shape()
        if list(inputs[0]["shape"]) != expected and -1 in list(inputs[0].get("shape_signature", [])):
            interp.resize_tensor_input(inputs[0]["index"], expected)
        interp.allocate_tensors()
        self._in = interp.get_input_details()[0]
        self._out = interp.get_output_details()[0]
        check_shape(manifest, "input", list(self._in["shape"]), expected, path.name)
        check_shape(manifest, "output", list(self._out["shape"]), manifest.output_shape, path.name)
        self._interp = interp

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        dtype = self._in["dtype"]
        scale, zero = self._in.get("quantization", (0.0, 0))
        if dtype in (np.int8, np.uint8) and tensor.dtype != dtype and scale:
            # A fully quantised model takes real values through its own scale and zero point.
            info = np.iinfo(dtype)
            tensor = np.clip(np.round(tensor / scale + zero), info.min, info.max).astype(dtype)
        elif tensor.dtype != dtype:
            tensor = tensor.astype(dtype)
        self._interp.set_tensor(self._in["index"], tensor)
        self._interp.invoke()
        out: np.ndarray = self._interp.get_tensor(self._out["index"])
        oscale, ozero = self._out.get("quantization", (0.0, 0))
        if out.dtype != np.float32 and oscale:
            real: np.ndarray = (out.astype(np.float32) - ozero) * oscale
            return real
        return np.array(out, copy=True)

    def close(self) -> None:
        self._interp = None
