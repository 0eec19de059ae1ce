"""Input checks shared by every index kind and the GPU builders: vector matrices, chunk ids, counts.

A module of its own so that ``gpu.py`` and ``base.py`` share them without importing each other.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError

FLOAT32 = np.dtype(np.float32)


def check_count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def as_vectors(x: Any, dim: int, error: type[Exception], what: str) -> np.ndarray:
    if x.__class__ is np.ndarray and x.dtype is FLOAT32 and x.ndim == 2 and x.shape[1] == dim and x.flags.c_contiguous:
        # The common case, checked cheaply: a sum of squares is finite whenever every value is (a
        # NaN or inf makes it non-finite; an overflow of huge values falls to the exact check).
        flat = x.ravel()
        if not math.isfinite(flat.dot(flat)) and not np.isfinite(x).all():
            raise error(f"{what} contain NaN or infinite values")
        return x
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[1] != dim:
        hint = " (a single vector needs shape [1, dim]: use v.reshape(1, -1))" if arr.ndim == 1 else ""
        raise error(f"{what} must have shape [n, {dim}], got {list(arr.shape)}{hint}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise error(f"{what} must be floating point (float32), got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise error(f"{what} contain NaN or infinite values")
    return arr


def as_ids(ids: Any, error: type[Exception], what: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise error(f"{what} must be a 1-D array of integer chunk ids, got shape {list(arr.shape)} dtype {arr.dtype}")
    if n is not None and arr.shape[0] != n:
        raise error(f"{what} has {arr.shape[0]} entries for {n} vectors")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size and arr.min() < 0:
        raise error(f"{what} must be non-negative (-1 marks a missing result)")
    return arr


def check_unique(ids: np.ndarray) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != ids.size:
        raise ConfigError(f"duplicate ids: {uniq[counts > 1][:10].tolist()}")
