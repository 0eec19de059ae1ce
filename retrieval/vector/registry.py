"""Registry of vector index kinds: the one list of names users can pass (``--vector-index``,
``vector.kind`` in the config, the contract tests), ``create_index`` by name, and ``load_index``
by recognising a file.

Kinds are registered by name with the class's import path and imported on first use, so reading
the names (``available_kinds()``) imports neither numpy nor FAISS: the command line reads them
while it parses its arguments. Nothing here imports the index classes at module level, and the
classes do not import the registry, so the registry and ``base`` never import each other.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import BundleError, ConfigError

if TYPE_CHECKING:
    from .base import VectorIndex

# kind -> the class, or "module:Class" until first use. Insertion order is the order users see.
_KINDS: dict[str, "type[VectorIndex] | str"] = {
    "flat": "retrieval.vector.flat:FlatIndex",
    "hnsw": "retrieval.vector.hnsw:HNSWIndex",
    "ivf": "retrieval.vector.ivf:IVFIndex",
    "ivfpq": "retrieval.vector.ivfpq:IVFPQIndex",
    "sq8": "retrieval.vector.sq8:SQ8Index",
}

T = TypeVar("T", bound=type)


def register(cls: T) -> T:
    """Class decorator: make ``cls`` available under ``cls.kind``."""
    kind = getattr(cls, "kind", "")
    if not kind or kind in _KINDS and _KINDS[kind] is not cls:
        raise ValueError(f"vector index kind {kind!r} is empty or already registered")
    _KINDS[kind] = cls
    return cls


def register_path(kind: str, target: str) -> None:
    """Make the class at ``target`` (``"package.module:ClassName"``) available under ``kind``,
    imported only when an index of that kind is first created or loaded."""
    module, _, name = target.partition(":")
    if not kind or not module or not name:
        raise ValueError(f"register_path needs a kind and 'module:Class', got {kind!r}, {target!r}")
    if kind in _KINDS and _KINDS[kind] != target:
        raise ValueError(f"vector index kind {kind!r} is already registered")
    _KINDS[kind] = target


def available_kinds() -> tuple[str, ...]:
    """Names accepted by :func:`create_index`, in registration order. Imports no index class."""
    return tuple(_KINDS)


def index_class(kind: str) -> type["VectorIndex"]:
    """The class registered under ``kind`` (imported now if registered by path); ConfigError
    naming the valid kinds when there is none."""
    try:
        entry = _KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown vector index kind {kind!r}; valid: {', '.join(_KINDS)}") from None
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        entry = getattr(importlib.import_module(module), name)
        if getattr(entry, "kind", None) != kind:
            raise ValueError(f"{module}:{name} has kind {getattr(entry, 'kind', None)!r}, registered as {kind!r}")
        _KINDS[kind] = entry
    return entry


def create_index(kind: str, dim: int, n: int | None = None, metric: str = "ip", **build_params: Any) -> "VectorIndex":
    """An unbuilt index of ``kind``; defaults are derived from ``n`` now (preview) and from the
    actual vector count in ``build``. Unknown or out-of-range build parameters raise ConfigError."""
    return index_class(kind)(dim, metric, n, **build_params)


def load_index(path: str | os.PathLike[str]) -> "VectorIndex":
    """Read a file written by ``VectorIndex.save``; BundleError when missing, corrupt or foreign."""
    from ._faiss import import_faiss, metric_name

    faiss = import_faiss()
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
    for kind in available_kinds():
        cls = index_class(kind)
        if cls._accepts(inner):
            return cls._from_faiss(outer, inner, metric, file.name)
    raise BundleError(f"{file}: unsupported inner index type {type(inner).__name__}; valid kinds: {', '.join(_KINDS)}")
