"""Readers for the TEXMEX ``.fvecs`` / ``.ivecs`` formats (SIFT, GIST ground truth files).

Each row is a little-endian int32 dimension ``d`` followed by ``d`` values (float32 for fvecs,
int32 for ivecs). The file is memory-mapped and validated with vectorised checks: a missing
file, an empty or truncated file, and rows whose dimension differs from the first row's all raise
:class:`CorpusError` naming the file and the offending row (0-based).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import CorpusError


def read_fvecs(path: str | os.PathLike[str]) -> np.ndarray:
    """All vectors of an ``.fvecs`` file as a C-contiguous ``float32 [n, d]`` array."""
    return _read_vecs(path, np.float32)


def read_ivecs(path: str | os.PathLike[str]) -> np.ndarray:
    """All rows of an ``.ivecs`` file (e.g. ground-truth neighbour ids) as ``int32 [n, d]``."""
    return _read_vecs(path, np.int32)


def _read_vecs(path: str | os.PathLike[str], dtype: type) -> np.ndarray:
    file = Path(path)
    if not file.is_file():
        raise CorpusError(f"{file}: no such file")
    size = file.stat().st_size
    if size < 4:
        raise CorpusError(f"{file}: empty or truncated file ({size} bytes): no row 0 header")
    raw = np.memmap(file, dtype="<i4", mode="r", shape=(size // 4,))
    dim = int(raw[0])
    if dim < 1:
        raise CorpusError(f"{file}: row 0 has dimension {dim}; must be positive")
    row_bytes = 4 * (dim + 1)
    n_full = size // row_bytes
    if n_full == 0:
        raise CorpusError(f"{file}: truncated: row 0 needs {row_bytes} bytes, file has {size}")
    rows = raw[: n_full * (dim + 1)].reshape(n_full, dim + 1)
    bad = np.flatnonzero(rows[:, 0] != dim)
    if bad.size:  # the first wrong header is exact; rows after it are misaligned anyway
        row = int(bad[0])
        raise CorpusError(
            f"{file}: row {row} has dimension {int(rows[row, 0])}, expected {dim} (from row 0); "
            "mixed dimensions are not supported"
        )
    if size % row_bytes:
        raise CorpusError(
            f"{file}: truncated or malformed: size {size} bytes is not a multiple of the {row_bytes}-byte row "
            f"(dimension {dim}); row {n_full} is incomplete ({size - n_full * row_bytes} trailing bytes)"
        )
    out = np.ascontiguousarray(rows[:, 1:]).view(dtype)
    del rows, raw
    return out


def write_vecs(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write ``array`` ([n, d] float32 or int32) as fvecs/ivecs (for tests and small fixtures)."""
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise ValueError(f"array must be 2-D, got shape {list(arr.shape)}")
    dtype = np.float32 if np.issubdtype(arr.dtype, np.floating) else np.int32
    body = np.ascontiguousarray(arr, dtype=dtype).view(np.int32)
    out = np.empty((arr.shape[0], arr.shape[1] + 1), dtype="<i4")
    out[:, 0] = arr.shape[1]
    out[:, 1:] = body
    target = Path(path)
    out.tofile(target)
    return target
