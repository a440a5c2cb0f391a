"""Inference backend settings, one class per backend ``type``, and the union a camera's ``backend:`` is checked against.

The backends themselves (OpenVINO, LiteRT) live in ``edge.inference``; the hub validates node files without them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from plumbing.plugins import tagged_union


class BackendConfig(BaseModel):
    """Base of every backend's settings; subclasses add ``type: Literal["<key>"]``."""

    model_config = ConfigDict(extra="forbid")

    threads: int | None = Field(None, ge=1, le=64, description="CPU threads for one inference; None: the runtime's")


class OpenVinoConfig(BackendConfig):
    type: Literal["openvino"] = "openvino"
    device: str = Field("CPU", pattern=r"^[A-Z]+(\.[0-9]+)?(:[A-Z0-9.,]+)?$", description="CPU, GPU, GPU.1, NPU, AUTO")
    precision: Literal["f32", "bf16", "f16"] | None = Field(
        "f32",
        description="Inference precision; f32 gives the same results as LiteRT, bf16 / f16 are faster where the "
        "hardware has them; None: the device's default",
    )
    pin_threads: bool = Field(
        False,
        description="Pin inference threads to cores (OpenVINO's ENABLE_CPU_PINNING). Off by default: a node runs one "
        "model per camera, and pinned single-thread models all land on the same core",
    )


class LiteRtConfig(BackendConfig):
    type: Literal["litert"] = "litert"


BACKEND_CONFIGS: dict[str, type[BackendConfig]] = {"openvino": OpenVinoConfig, "litert": LiteRtConfig}
AnyBackendConfig = tagged_union("inference backend", BACKEND_CONFIGS)
