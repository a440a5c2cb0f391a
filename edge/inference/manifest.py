"""The model manifest (models/<name>/manifest.yaml): what a model file is and how to feed and read it."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from plumbing.configfile import ConfigError, load_yaml_model
from wire.messages import Identifier


class ModelError(Exception):
    """A model that cannot be used: bad manifest, missing or altered file, shapes that do not match."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(_Section):
    width: int = Field(ge=8, le=8192)
    height: int = Field(ge=8, le=8192)
    layout: Literal["NHWC", "NCHW"] = "NHWC"
    pixel_format: Literal["RGB", "BGR"] = "RGB"
    dtype: Literal["float32", "uint8"] = "float32"
    scale: float = Field(255.0, gt=0, description="model_input = (pixel - mean) / scale")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    resize: Literal["letterbox", "stretch"] = "letterbox"

    def shape(self) -> list[int]:
        """The input tensor shape the manifest promises, batch 1."""
        if self.layout == "NHWC":
            return [1, self.height, self.width, 3]
        return [1, 3, self.height, self.width]


class Manifest(_Section):
    name: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    synthetic: bool = Field(False, description="Trained on simulated scenes only")
    description: str = ""
    task: Literal["detect", "classify"] = "detect"
    labels: list[Identifier] = Field(min_length=1)
    input: InputSpec
    decoder: str = Field(min_length=1, description="A registered decoder: yolo, ssd, classifier")
    decoder_options: dict[str, Any] = Field(default_factory=dict)
    output_shape: list[int] = Field(min_length=1, max_length=6)
    files: dict[str, str] = Field(min_length=1, description="Every file of the model and its sha256")
    backends: dict[str, str] = Field(min_length=1, description="Which file each backend loads")
    metrics: dict[str, Any] | None = None

    _dir: Path = PrivateAttr(default=Path("."))
    _source: str = PrivateAttr(default="<manifest>")

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        for name, digest in self.files.items():
            if Path(name).is_absolute() or ".." in Path(name).parts:
                raise ValueError(f"files: {name!r} must be a plain name inside the model folder")
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
                raise ValueError(f"files.{name}: {digest!r} is not a sha256 hex digest")
        for backend, name in self.backends.items():
            if name not in self.files:
                raise ValueError(f"backends.{backend}: file {name!r} is not listed under files (no sha256 for it)")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels: a label appears twice")
        return self

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def source(self) -> str:
        """The manifest file, for error messages."""
        return self._source

    def file_for(self, backend: str) -> Path:
        """The model file this backend loads; ModelError naming the manifest when there is none."""
        name = self.backends.get(backend)
        if name is None:
            known = ", ".join(sorted(self.backends))
            raise ModelError(f"{self._source}: backends: no file for backend {backend!r} (has: {known})")
        return self._dir / name

    def error(self, field: str, reason: str) -> ModelError:
        return ModelError(f"{self._source}: {field}: {reason}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(path: Path | str, verify: bool = True) -> Manifest:
    """Read and validate a manifest; with ``verify`` check that every file exists and has its sha256.

    Raises ModelError naming the manifest file (and line) and the field at fault.
    """
    path = Path(path)
    try:
        manifest = load_yaml_model(path, Manifest)
    except ConfigError as exc:
        raise ModelError(str(exc)) from None
    manifest._dir = path.parent
    manifest._source = str(path)
    if verify:
        for name, expected in manifest.files.items():
            file = path.parent / name
            if not file.is_file():
                raise manifest.error(f"files.{name}", f"file {file} does not exist")
            actual = sha256_of(file)
            if actual != expected.lower():
                raise manifest.error(f"files.{name}", f"sha256 is {actual}, the manifest says {expected}")
    return manifest
