"""The ``VectorIndex`` interface and the machinery every FAISS-backed kind shares.

A vector index maps our chunk ids (non-negative int64) to vectors. Every kind wraps its FAISS
index in ``IndexIDMap2`` so searches return chunk ids directly, a selector restricts by chunk id,
and ``reconstruct`` works by chunk id. Subclasses supply five small hooks: how defaults are
derived from the vector count (``_plan``), the inner FAISS index (``_new_faiss_index``), the
per-call parameter schema and its FAISS ``SearchParameters`` object, and how to read parameters
back from a loaded file (``_params_from_faiss``).

Per-call search parameters always travel in a ``SearchParameters`` object: shared index
attributes are written only while building (to persist the defaults in the file), never by a
search, so concurrent searches with different parameters cannot race. FAISS only reads those
objects, so one built for a set of values (without a selector) is reused by later calls with the
same values: building one costs ~8 us, as much as a whole small HNSW search. ``search`` and
``reconstruct`` may run from many threads at once; ``build``, ``add`` and ``save`` must not run
concurrently with anything else on the same object (the engine builds before it serves).
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np

from ..errors import ConfigError, NotFoundError, QueryError
from ._faiss import faiss_metric, import_faiss
from .checks import FLOAT32, as_ids, as_vectors, check_count, check_unique
from .gpu_device import clone_to_gpu
from .params import ParamSpec, check_params

SCORE_MEANING = {"ip": "inner product (higher is better)", "l2": "negative squared L2 distance (higher is better)"}


class VectorIndex(ABC):
    """A dense index over chunk ids. Create one with :func:`create_index` or ``VectorIndex.create``."""

    kind: ClassVar[str] = ""
    #: build-time parameters this kind accepts (defaults for per-call ones included)
    build_params_schema: ClassVar[Mapping[str, ParamSpec]] = {}
    #: whether vectors returned by ``reconstruct`` are the originals (False: decoded codes)
    exact_vectors: ClassVar[bool] = True

    def __init__(self, dim: int, metric: str = "ip", n_hint: int | None = None, **build_params: Any) -> None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ConfigError(f"vector dimension must be a positive integer, got {dim!r}")
        self.dim = int(dim)
        faiss_metric(metric)
        self.metric = metric
        self._given = check_params(self.build_params_schema, build_params, ConfigError, "build parameter", self.kind)
        self._check_given(self._given)
        self._index: Any = None  # faiss.IndexIDMap2 once built or loaded
        self._params: dict[str, Any] = {}
        self._derivation: dict[str, str] = {}
        self._train_info: dict[str, Any] = {}
        self._gpu: Any = None  # optional GPU copy used for unfiltered searches (see gpu.py)
        self._gpu_device = 0  # the device ``_gpu`` lives on
        self._gpu_lock = threading.Lock()  # FAISS GPU resources are not thread-safe
        self._resolved_params: dict[Any, dict[str, Any]] = {}  # see _resolve_search_params
        self._shared_fparams: dict[Any, Any] = {}  # see _shared_search_parameters
        if n_hint is not None:
            self._params, self._derivation = self._plan(check_count(n_hint, "n_hint"))

    # ----------------------------------------------------------------------- construction

    @classmethod
    def create(
        cls, kind: str, dim: int, n_hint: int | None = None, params: Mapping[str, Any] | None = None, metric: str = "ip"
    ) -> "VectorIndex":
        """An unbuilt index of a registered ``kind`` (see :func:`registry.create_index`)."""
        from .registry import create_index

        return create_index(kind, dim, n_hint, metric, **dict(params or {}))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "VectorIndex":
        """Read an index written by :meth:`save`; the kind is recognised from the file."""
        from .registry import load_index

        return load_index(path)

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> "VectorIndex":
        """Train (seeded, on the data itself) and add ``vectors``; ``ids`` default to 0..n-1."""
        if self._index is not None:
            raise ConfigError(f"{self.kind} index is already built; use add() for more vectors")
        faiss = import_faiss()
        x = as_vectors(vectors, self.dim, ConfigError, "vectors")
        n = check_count(len(x), "number of vectors")
        chunk_ids = np.arange(n, dtype=np.int64) if ids is None else as_ids(ids, ConfigError, "ids", n)
        check_unique(chunk_ids)
        params, derivation = self._plan(n)
        inner = self._new_faiss_index(params)
        if not inner.is_trained:
            sample = _train_sample(x, self._train_size(params, n), int(params.get("seed", 0)))
            inner.train(sample)
            self._train_info = {"n_train": int(len(sample)), "seed": int(params.get("seed", 0))}
        self._after_train(inner, params)
        index = faiss.IndexIDMap2(inner)  # the Python wrapper keeps ``inner`` alive
        index.add_with_ids(x, chunk_ids)
        self._index, self._params, self._derivation = index, params, derivation
        return self

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add vectors under new chunk ids (unique, not already present)."""
        index = self._require_built()
        x = as_vectors(vectors, self.dim, ConfigError, "vectors")
        chunk_ids = as_ids(ids, ConfigError, "ids", len(x))
        check_unique(chunk_ids)
        present = np.isin(chunk_ids, self.ids())
        if present.any():
            raise ConfigError(f"ids already in the index: {chunk_ids[present][:10].tolist()}")
        if len(x):
            index.add_with_ids(x, chunk_ids)
            if self._gpu is not None:  # re-clone the GPU copy from the changed CPU form
                self._gpu = clone_to_gpu(index, self._gpu_device)

    # ----------------------------------------------------------------------- search

    @property
    def ntotal(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def search_params_schema(self) -> Mapping[str, ParamSpec]:
        """Per-call parameters ``search`` accepts for this index (empty for exhaustive kinds)."""
        return {}

    def search_defaults(self) -> dict[str, Any]:
        """Values used for per-call parameters the caller leaves out."""
        return {name: self._params[name] for name in self.search_params_schema if name in self._params}

    def search(
        self,
        queries: np.ndarray,
        k: int,
        params: Mapping[str, Any] | None = None,
        selector_ids: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` chunk ids per query: ``(scores [nq, k] float32, ids [nq, k] int64)``.

        Scores are higher-is-better (inner product, or negative squared L2). Missing results
        are id -1 with score -inf. ``params`` override this index's per-call defaults for this
        call only. ``selector_ids`` restricts results to those chunk ids; approximate kinds
        filter while searching, so a very small allowed set can return fewer than ``k`` hits
        (score few candidates exactly instead, using ``reconstruct``).
        """
        index = self._index
        if index is None:
            self._require_built()
        if k.__class__ is not int:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise QueryError(f"k must be a positive integer, got {k!r}")
            k = int(k)
        if k < 1:
            raise QueryError(f"k must be a positive integer, got {k!r}")
        q = queries
        if not (
            q.__class__ is np.ndarray and q.dtype is FLOAT32 and q.ndim == 2 and q.shape[1] == self.dim
            and q.flags.c_contiguous and math.isfinite((flat := q.ravel()).dot(flat))
        ):
            q = as_vectors(queries, self.dim, QueryError, "queries")  # converts, or says what is wrong
        if selector_ids is None and self._gpu is None and len(q):
            # The hot path (one query per call is the common case): one memo lookup finds the
            # shared SearchParameters for these params and k (value types are part of the key:
            # True == 1 == 1.0, but only 1 is a valid ef_search), then FAISS's search_c, which
            # its own Python search() calls after re-checking input we have already checked.
            try:
                fparams = self._shared_fparams[(k, *params.items(), *map(type, params.values())) if params else k]
            except (KeyError, TypeError, AttributeError):
                fparams = self._shared_search_parameters(params, k)
            n, ptr = len(q), _swig_ptr()
            distances, labels = np.empty((n, k), np.float32), np.empty((n, k), np.int64)
            index.search_c(n, ptr(q), k, ptr(distances), ptr(labels), fparams)
            if self.metric != "ip":
                np.negative(distances, out=distances)
            # FAISS sorts each row, so missing results (id -1) can only be trailing ones.
            if n == 1 and labels.item(k - 1) >= 0:
                return distances, labels
            distances[labels < 0] = -np.inf
            return distances, labels
        key, values = self._resolve_search_params(params)
        if selector_ids is not None:
            allowed = as_ids(selector_ids, QueryError, "selector_ids")
            if allowed.size == 0:
                return _empty_results(len(q), k)
            sel = import_faiss().IDSelectorBatch(allowed)
            fparams = self._search_parameters(values, sel, k)
        else:
            sel, fparams = None, None
        if len(q) == 0:
            return _empty_results(0, k)
        if self._gpu is not None and sel is None:
            with self._gpu_lock:
                distances, labels = self._gpu.search(q, k, params=self._gpu_params(values, k))
        else:
            n, ptr = len(q), import_faiss().swig_ptr
            distances, labels = np.empty((n, k), np.float32), np.empty((n, k), np.int64)
            index.search_c(n, ptr(q), k, ptr(distances), ptr(labels), fparams)
        del fparams, sel  # kept alive until FAISS returned: the params hold raw pointers to them
        return self._finish(distances, labels, k)

    def _finish(self, distances: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Higher-is-better float32 scores, and -inf where FAISS found no result (id -1)."""
        scores = distances if self.metric == "ip" else np.negative(distances, out=distances)
        # FAISS sorts each row, so missing results can only be trailing ones.
        if len(labels) == 1 and labels.item(k - 1) >= 0:
            return scores, labels
        scores[labels < 0] = -np.inf
        return scores, labels

    def _resolve_search_params(self, params: Mapping[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        """``(memo key, values)``: defaults overlaid with the validated ``params``, memoized.

        The schema depends only on the built index, so a given set of values validates the same
        way every time; skipping the re-check takes ~6 us off every one-query call. The returned
        dict is shared: callers must not mutate it. The key is None for unhashable ``params``.
        """
        memo = self._resolved_params
        try:
            # The types are part of the key: True == 1 == 1.0, but only 1 is a valid ef_search.
            # Keys follow insertion order: the same values given in another order only add an entry.
            key = (tuple(params.items()), tuple(map(type, params.values()))) if params else ()
            return key, memo[key]
        except KeyError:
            pass
        except (AttributeError, TypeError):  # not a mapping, or unhashable values: validate as is
            key = None
        values = {**self.search_defaults(), **check_params(self.search_params_schema, params, QueryError, "search parameter", self.kind)}
        if key is not None and len(memo) < 1024:
            memo[key] = values
        return key, values

    def _shared_search_parameters(self, params: Mapping[str, Any] | None, k: int) -> Any:
        """The selector-less ``SearchParameters`` for ``params`` and ``k``, built once, then shared.

        Validates ``params`` (QueryError) the first time; unhashable ``params`` are never memoized.
        """
        key, values = self._resolve_search_params(params)
        fparams = self._search_parameters(values, None, k)
        if key is not None and len(self._shared_fparams) < 1024:
            # A racing thread may build its own: equal, and harmless.
            self._shared_fparams[(k, *params.items(), *map(type, params.values())) if params else k] = fparams
        return fparams

    def reconstruct(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors of ``ids`` as ``[len(ids), dim]`` float32 (decoded for sq8/ivfpq)."""
        index = self._require_built()
        chunk_ids = as_ids(ids, QueryError, "ids")
        if chunk_ids.size == 0:
            return np.empty((0, self.dim), np.float32)
        try:
            return index.reconstruct_batch(chunk_ids)
        except RuntimeError:  # IDMap2's reverse map has no such id; find which, for the message
            missing = chunk_ids[~np.isin(chunk_ids, self.ids())]
            raise NotFoundError(f"chunk ids not in the vector index: {missing[:10].tolist()}") from None

    def ids(self) -> np.ndarray:
        """All chunk ids in the index, in insertion order."""
        index = self._require_built()
        return import_faiss().vector_to_array(index.id_map).astype(np.int64, copy=False)

    # ----------------------------------------------------------------------- persistence

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the CPU form with ``faiss.write_index`` to a temp file, fsync, rename into place."""
        index = self._require_built()
        faiss = import_faiss()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            faiss.write_index(index, tmp)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def describe(self) -> dict[str, Any]:
        """What the bundle manifest records: factory string, parameters used and why, counts."""
        faiss = import_faiss()
        return {
            "kind": self.kind,
            "factory": self.factory_string(),
            "dim": self.dim,
            "metric": self.metric,
            "score": SCORE_MEANING[self.metric],
            "ntotal": self.ntotal,
            "build_params": dict(self._params),
            "derivation": dict(self._derivation),
            "search_defaults": self.search_defaults(),
            "search_params": {name: spec.describe() for name, spec in self.search_params_schema.items()},
            "train": dict(self._train_info),
            "exact_vectors": self.exact_vectors,
            "placement": "cpu" if self._gpu is None else "gpu",
            "faiss_version": faiss.__version__,
        }

    # ----------------------------------------------------------------------- hooks

    def _check_given(self, given: dict[str, Any]) -> None:
        """Cross-parameter checks on user-given build parameters (ConfigError)."""

    @abstractmethod
    def _plan(self, n: int) -> tuple[dict[str, Any], dict[str, str]]:
        """Build parameters for ``n`` vectors (given ones win) and how each default was derived."""

    @abstractmethod
    def _new_faiss_index(self, params: dict[str, Any]) -> Any:
        """The inner FAISS index, untrained, with seeds and persisted search defaults set."""

    @abstractmethod
    def factory_string(self) -> str:
        """The ``faiss.index_factory`` string describing this index."""

    def _train_size(self, params: dict[str, Any], n: int) -> int:
        return n

    def _after_train(self, inner: Any, params: dict[str, Any]) -> None:
        """Hook between training and adding (e.g. enabling the IVF direct map)."""

    def _search_parameters(self, values: dict[str, Any], sel: Any, k: int) -> Any:
        """A fresh FAISS ``SearchParameters`` for one call (None when nothing to pass)."""
        return import_faiss().SearchParameters(sel=sel) if sel is not None else None

    def _gpu_params(self, values: dict[str, Any], k: int) -> Any:
        return self._search_parameters(values, None, k)

    @classmethod
    def _accepts(cls, inner: Any) -> bool:
        """Whether a loaded (downcast) inner FAISS index is of this kind."""
        return False

    @classmethod
    def _params_from_faiss(cls, inner: Any) -> dict[str, Any]:
        """Build parameters (including persisted search defaults) read back from a loaded index."""
        return {}

    @classmethod
    def _from_faiss(cls, index: Any, inner: Any, metric: str, source: str) -> "VectorIndex":
        params = cls._params_from_faiss(inner)
        obj = cls(int(index.d), metric, **params)
        obj._index, obj._params = index, params
        obj._derivation = {name: f"read from {source}" for name in params}
        return obj

    def _require_built(self) -> Any:
        if self._index is None:
            raise QueryError(f"{self.kind} index has not been built; call build(vectors, ids) first")
        return self._index

    def __repr__(self) -> str:
        return f"<{type(self).__name__} kind={self.kind} dim={self.dim} metric={self.metric} ntotal={self.ntotal}>"


# --------------------------------------------------------------------------- helpers


_SWIG_PTR: Any = None


def _swig_ptr() -> Any:
    """``faiss.swig_ptr``, looked up once (it is called three times per search)."""
    global _SWIG_PTR
    if _SWIG_PTR is None:
        _SWIG_PTR = import_faiss().swig_ptr
    return _SWIG_PTR


def _train_sample(x: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A seeded, order-preserving sample of ``size`` rows (all rows when size >= n)."""
    if size >= len(x):
        return x
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=size, replace=False))
    return np.ascontiguousarray(x[rows])


def _empty_results(nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((nq, k), -np.inf, dtype=np.float32), np.full((nq, k), -1, dtype=np.int64)
