"""Registry of vector index kinds: ``create_index`` by name, ``load_index`` by recognising a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BundleError, ConfigError

if TYPE_CHECKING:
    from .base import VectorIndex

_KINDS: dict[str, type["VectorIndex"]] = {}
_BUILTIN_MODULES = ("flat", "hnsw", "ivf", "ivfpq", "sq8")

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make ``cls`` available under ``cls.kind``."""
    kind = getattr(cls, "kind", "")
    if not kind or kind in _KINDS and _KINDS[kind] is not cls:
        raise ValueError(f"vector index kind {kind!r} is empty or already registered")
    _KINDS[kind] = cls
    return cls


def _load_builtins() -> None:
    import importlib

    for name in _BUILTIN_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def available_kinds() -> tuple[str, ...]:
    """Names accepted by :func:`create_index`, in registration order."""
    _load_builtins()
    return tuple(_KINDS)


def index_class(kind: str) -> type["VectorIndex"]:
    _load_builtins()
    try:
        return _KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown vector index kind {kind!r}; valid: {', '.join(_KINDS)}") from None


def create_index(kind: str, dim: int, n: int | None = None, metric: str = "ip", **build_params: Any) -> "VectorIndex":
    """An unbuilt index of ``kind``; defaults are derived from ``n`` now (preview) and from the
    actual vector count in ``build``. Unknown or out-of-range build parameters raise ConfigError."""
    return index_class(kind)(dim, metric, n, **build_params)


def load_index(path: str | os.PathLike[str]) -> "VectorIndex":
    """Read a file written by ``VectorIndex.save``; BundleError when missing, corrupt or foreign."""
    from ._faiss import import_faiss, metric_name

    faiss = import_faiss()
    _load_builtins()
    file = Path(path)
    if not file.is_file():
        raise BundleError(f"vector index file not found: {file}")
    try:
        outer = faiss.read_index(str(file))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"{file}: not a readable FAISS index ({first})") from exc
    if not isinstance(outer, faiss.IndexIDMap2):
        raise BundleError(f"{file}: expected an IDMap2-wrapped index written by retrieval, got {type(outer).__name__}")
    metric = metric_name(outer.metric_type)
    if metric is None:
        raise BundleError(f"{file}: unsupported FAISS metric {outer.metric_type}")
    inner = faiss.downcast_index(outer.index)
    for cls in _KINDS.values():
        if cls._accepts(inner):
            return cls._from_faiss(outer, inner, metric, file.name)
    raise BundleError(f"{file}: unsupported inner index type {type(inner).__name__}; valid kinds: {', '.join(_KINDS)}")
