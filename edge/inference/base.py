"""The inference backend interface, its registry, and the detector that wraps a backend with pre/post-processing.

Every backend returns the model's raw first output; ``Detector`` turns a frame into the one normalised detection
array all of the camera pipeline uses: (K, 6) float32 rows [x1, y1, x2, y2, score, class] in source-frame pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from edge.inference.decoders import EMPTY, Decoder, make_decoder, nms
from edge.inference.manifest import Manifest, ModelError
from edge.inference.preprocess import prepare
from plumbing.plugins import Registry
from wire.nodeconfig.inference import BackendConfig


class InferenceBackend(ABC):
    """Runs one model.

    Lifecycle: ``load(manifest)`` once (raises ModelError: missing runtime, unreadable file, shapes that differ from
    the manifest), then ``infer(tensor)`` per frame from one thread at a time, returning the raw first output.
    """

    KEY: ClassVar[str]

    def __init__(self, config: BackendConfig) -> None:
        self.config = config

    @abstractmethod
    def load(self, manifest: Manifest) -> None: ...

    @abstractmethod
    def infer(self, tensor: np.ndarray) -> np.ndarray: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the runtime; default: nothing to do."""


BACKENDS: Registry[InferenceBackend] = Registry("inference backend", docs="docs/camera.md#backends")


def register_backend(
    key: str, config_cls: type[BackendConfig]
) -> Callable[[type[InferenceBackend]], type[InferenceBackend]]:
    return BACKENDS.register(key, config_cls)


def check_shape(manifest: Manifest, what: str, actual: list[int], expected: list[int], file: str) -> None:
    actual, expected = [int(v) for v in actual], [int(v) for v in expected]
    if actual != expected:
        field = "input" if what == "input" else "output_shape"
        raise manifest.error(field, f"the model {file} has {what} shape {list(actual)}, the manifest says {expected}")


class Detector:
    """A loaded model with its decoder: ``detect(frame, roi)`` -> detections in frame pixels."""

    def __init__(self, manifest: Manifest, backend: InferenceBackend) -> None:
        self.manifest = manifest
        self.backend = backend
        spec = manifest.input
        try:
            self.decoder: Decoder = make_decoder(
                manifest.decoder, manifest.decoder_options, list(manifest.labels), spec.width, spec.height
            )
        except KeyError as exc:
            raise manifest.error("decoder", str(exc.args[0])) from None
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise manifest.error("decoder_options", str(exc).replace("\n", " ")) from None

    @classmethod
    def load(cls, manifest: Manifest, config: BackendConfig) -> Detector:
        key = getattr(config, "type", None)
        if not isinstance(key, str):
            raise ModelError("backend config has no type")
        backend = BACKENDS.plugin(key)(config)
        backend.load(manifest)
        return cls(manifest, backend)

    @property
    def labels(self) -> list[str]:
        return list(self.manifest.labels)

    def detect(self, frame: np.ndarray, roi: tuple[int, int, int, int] | None = None) -> np.ndarray:
        tensor, transform = prepare(frame, self.manifest.input, roi)
        raw = self.backend.infer(tensor)
        dets = self.decoder.decode(raw)
        if not len(dets):
            return EMPTY
        h, w = frame.shape[:2]
        return transform.to_frame(dets, w, h)

    def detect_many(self, frame: np.ndarray, rois: list[tuple[int, int, int, int] | None]) -> np.ndarray:
        """Detect in several crops of one frame; overlapping crops' duplicates are merged by NMS."""
        parts = [d for d in (self.detect(frame, r) for r in rois) if len(d)]
        if not parts:
            return EMPTY
        if len(parts) == 1:
            return parts[0]
        return nms(np.concatenate(parts), self.decoder.options.iou_threshold)

    def close(self) -> None:
        self.backend.close()
