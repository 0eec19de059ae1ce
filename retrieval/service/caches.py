"""Response caches for the service: exact (``ResultCache``) and semantic (``SemanticCache``).

``ResultCache`` answers a request seen before, keyed by everything that decides the answer:
query text, mode, k, per-call parameters, filters and the bundle version (a reloaded or rebuilt
bundle never serves old results). ``SemanticCache`` answers a *paraphrase*: a query whose
embedding is within a cosine threshold of a cached query's, under the same key minus the text.

Both are bounded LRUs, safe to share between threads (the servicer's worker threads and the
event loop).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Mapping

import numpy as np

from ..errors import ConfigError, QueryError


def _check_capacity(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
        raise ConfigError(f"cache capacity must be an integer >= 0 (0 turns the cache off), got {capacity!r}")
    return capacity


class _Stats:
    """Hit and miss counters (callers hold the cache's lock)."""

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


# -- keys ------------------------------------------------------------------------------------


def _typed(value: Any) -> Hashable:
    """A hashable form of ``value`` that keeps its type: ``1``, ``1.0`` and ``True`` are equal
    in Python (and hash alike) but are different search parameters."""
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _typed(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_typed(v) for v in value))
    if isinstance(value, np.generic):
        value = value.item()
    return (type(value).__name__, value)


def _filters_key(filters: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Filters in a canonical order: AND over filters, IN over a filter's values, so neither
    order matters. Accepts None, ``{key: value | [values]}``, ``[(key, values), ...]`` or
    objects with ``.key`` and ``.values`` (the proto's ``Filter``)."""
    if not filters:
        return ()
    pairs: Iterable[Any] = filters.items() if isinstance(filters, Mapping) else filters
    out = []
    for item in pairs:
        key, values = (item.key, item.values) if hasattr(item, "key") else item
        values = (values,) if isinstance(values, str) else tuple(values)
        out.append((str(key), tuple(sorted(set(map(str, values))))))
    return tuple(sorted(out))


Params = Mapping[str, Any] | Iterable[tuple[str, Any]] | None


def semantic_key(mode: str, k: int, params: Params, filters: Any, bundle_version: str) -> Hashable:
    """Everything but the query text that decides a search's answer (the semantic cache's key)."""
    items = params.items() if isinstance(params, Mapping) else (params or ())
    params_key = tuple(sorted((str(name), _typed(value)) for name, value in items))
    return (str(mode), _typed(k), params_key, _filters_key(filters), str(bundle_version))


def result_key(query: str, mode: str, k: int, params: Params, filters: Any, bundle_version: str) -> Hashable:
    """The exact-result cache key: the query text plus ``semantic_key``.

    ``params`` (a mapping or (name, value) pairs) becomes a sorted tuple of (name, (type,
    value)), so ``{"nprobe": 1}``, ``{"nprobe": 1.0}`` and ``{"nprobe": True}`` are three keys.
    """
    return (str(query), semantic_key(mode, k, params, filters, bundle_version))


# -- exact results ---------------------------------------------------------------------------


class ResultCache:
    """Thread-safe LRU of ``capacity`` results; entries older than ``ttl_s`` count as misses.

    ``capacity`` 0 turns the cache off (every ``get`` misses, ``put`` stores nothing).
    """

    def __init__(self, capacity: int, ttl_s: float | None = None) -> None:
        self.capacity = _check_capacity(capacity)
        if ttl_s is not None and (isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not ttl_s > 0):
            raise ConfigError(f"cache ttl_s must be a positive number of seconds or None, got {ttl_s!r}")
        self.ttl_s = None if ttl_s is None else float(ttl_s)
        self._data: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._stats = _Stats()

    def get(self, key: Hashable) -> Any | None:
        """The cached value, or None (a miss) when absent or expired."""
        now = time.monotonic()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry[1] <= now:
                del self._data[key]  # expired: drop it now rather than wait for eviction
                entry = None
            if entry is None:
                self._stats.misses += 1
                return None
            self._data.move_to_end(key)
            self._stats.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: Any) -> None:
        if self.capacity == 0:
            return
        expires = time.monotonic() + self.ttl_s if self.ttl_s is not None else float("inf")
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry (the hit and miss counters are lifetime totals and stay)."""
        with self._lock:
            self._data.clear()

    @property
    def hits(self) -> int:
        return self._stats.hits

    @property
    def misses(self) -> int:
        return self._stats.misses

    @property
    def hit_ratio(self) -> float:
        with self._lock:
            return self._stats.hit_ratio

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


# -- semantic results ------------------------------------------------------------------------


@dataclass(eq=False)
class _Entry:
    key: Hashable
    row: int
    value: Any


class _Group:
    """Entries of one key: their vectors as rows of one array, so a lookup is one mat-vec."""

    def __init__(self, dim: int) -> None:
        self.vectors = np.empty((8, dim), dtype=np.float32)
        self.entries: list[_Entry] = []

    def add(self, entry: _Entry, vector: np.ndarray) -> None:
        n = len(self.entries)
        if n == len(self.vectors):  # grow by doubling: amortised O(1) per insert
            grown = np.empty((2 * n, self.vectors.shape[1]), dtype=np.float32)
            grown[:n] = self.vectors
            self.vectors = grown
        self.vectors[n] = vector
        entry.row = n
        self.entries.append(entry)

    def remove(self, entry: _Entry) -> None:
        """Swap the last row into ``entry``'s place: O(dim), and rows stay dense."""
        last = self.entries.pop()
        if last is not entry:
            self.vectors[entry.row] = self.vectors[len(self.entries)]
            self.entries[entry.row] = last
            last.row = entry.row

    def best(self, vector: np.ndarray) -> tuple[_Entry | None, float]:
        n = len(self.entries)
        if n == 0:
            return None, -np.inf
        scores = self.vectors[:n] @ vector
        i = int(np.argmax(scores))
        return self.entries[i], float(scores[i])


class SemanticCache:
    """Results reused across near-identical queries: cosine similarity >= ``threshold``.

    ``key`` is ``semantic_key(...)`` (mode, k, params, filters, bundle version): only queries
    under the same key are compared. Vectors are L2-normalised on the way in (callers normally
    pass the embedder's already-normalised float32 vectors). At most ``capacity`` entries over
    all keys, least recently used evicted first; ``capacity`` 0 turns the cache off.
    """

    def __init__(self, capacity: int, threshold: float) -> None:
        self.capacity = _check_capacity(capacity)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"semantic cache threshold must be a cosine in [-1, 1], got {threshold!r}")
        self.threshold = float(threshold)
        self._groups: dict[Hashable, _Group] = {}
        self._lru: OrderedDict[_Entry, None] = OrderedDict()
        self._lock = threading.Lock()
        self._stats = _Stats()

    def lookup(self, vector: np.ndarray, key: Hashable) -> Any | None:
        """The value of the most similar cached query under ``key`` if within the threshold."""
        query = _unit(vector)
        with self._lock:
            group = self._groups.get(key)
            entry, score = group.best(query) if group is not None and query is not None else (None, -np.inf)
            if entry is None or score < self.threshold:
                self._stats.misses += 1
                return None
            self._lru.move_to_end(entry)
            self._stats.hits += 1
            return entry.value

    def put(self, vector: np.ndarray, key: Hashable, value: Any) -> None:
        """Cache ``value``; a query already within the threshold has its value replaced instead
        of adding a near-duplicate row."""
        query = _unit(vector)
        if self.capacity == 0 or query is None:
            return
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(len(query))
            elif group.vectors.shape[1] != len(query):
                raise QueryError(f"vector has dimension {len(query)}, cached vectors under this key {group.vectors.shape[1]}")
            entry, score = group.best(query)
            if entry is not None and score >= self.threshold:
                entry.value = value
                self._lru.move_to_end(entry)
                return
            entry = _Entry(key, -1, value)
            group.add(entry, query)
            self._lru[entry] = None
            while len(self._lru) > self.capacity:
                self._evict(next(iter(self._lru)))

    def _evict(self, entry: _Entry) -> None:
        del self._lru[entry]
        group = self._groups[entry.key]
        group.remove(entry)
        if not group.entries:
            del self._groups[entry.key]

    def clear(self) -> None:
        """Drop every entry (the hit and miss counters are lifetime totals and stay)."""
        with self._lock:
            self._groups.clear()
            self._lru.clear()

    @property
    def hits(self) -> int:
        return self._stats.hits

    @property
    def misses(self) -> int:
        return self._stats.misses

    @property
    def hit_ratio(self) -> float:
        with self._lock:
            return self._stats.hit_ratio

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)


def _unit(vector: np.ndarray) -> np.ndarray | None:
    """``vector`` as a float32 unit vector ([dim] or [1, dim] in), None for a zero or non-finite one."""
    array = np.asarray(vector, dtype=np.float32)
    if array.ndim == 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 1 or array.size == 0:
        raise QueryError(f"semantic cache vectors must have shape [dim] or [1, dim], got {list(array.shape)}")
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return array / norm
