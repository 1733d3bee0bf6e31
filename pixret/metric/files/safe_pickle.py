"""Pickles from files, read without running them: revisitop's gnd, the authors' ``.npy`` dicts.

A pickle can name any importable callable and have it called while loading, so files
from outside are read with an unpickler that refuses every global but the few numpy
needs to rebuild arrays and scalars: a crafted file fails before any of its code runs.
Here, in the metric package, so that the Space reads the authors' files the same way.

Every failure is ``error`` (an ``InputError`` subclass the caller names: the build
passes ``ReleaseError``) with the file's path in its message.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

from ..core.errors import InputError

SAFE_GLOBALS = {
    # what np.save / pickle need to rebuild (object) arrays and numpy scalars
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # protocol-2 pickles of bytes
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds containers, numbers, strings and numpy arrays, and nothing else."""

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def safe_unpickle(stream, path, error: type[InputError] = InputError) -> object:
    """The object pickled in ``stream`` (bytes or a binary file object) at its position."""
    try:
        return SafeUnpickler(io.BytesIO(stream) if isinstance(stream, bytes) else stream).load()
    except Exception as err:  # noqa: BLE001 - any failure means an unusable file
        raise error(f"{path}: not a plain-data pickle ({err})") from None


def read_bytes(path, error: type[InputError] = InputError) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror or err})") from None


def sha256_file(path, error: type[InputError] = InputError) -> str:
    """SHA-256 of a file, read a megabyte at a time (``error`` naming it if it cannot be read)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise error(f"{path}: cannot read ({err.strerror or err})") from None
    return digest.hexdigest()


def load_pickle(path, error: type[InputError] = InputError) -> object:
    """A .pkl file with builtin/numpy data only."""
    return safe_unpickle(read_bytes(path, error), path, error)


def load_npy_object(path, error: type[InputError] = InputError) -> object:
    """What ``np.load(path, allow_pickle=True).item()`` returns (``np.save`` of a dict), without running pickle code."""
    stream = io.BytesIO(read_bytes(path, error))
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(version, np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(stream, max_header_size=1 << 20)
    except Exception as err:  # noqa: BLE001
        raise error(f"{path}: not a .npy file ({err})") from None
    if not dtype.hasobject:
        raise error(f"{path}: holds a plain {dtype} array of shape {shape}, not the pickled dict expected "
                    "(np.save of a dict)")
    array = safe_unpickle(stream, path, error)  # the stream, not a slice of it: no copy of a large file
    if not isinstance(array, np.ndarray) or array.shape != ():
        raise error(f"{path}: expected a 0-d array holding a dict, got {getattr(array, 'shape', type(array))}")
    return array.item()
