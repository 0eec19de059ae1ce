"""Query-embedding cache: a bounded, thread-safe LRU keyed by (embedder fingerprint, text).

Repeated queries (a dashboard refreshing, a user re-asking, a load test) skip the model. Keys
include the embedder's fingerprint, so one cache can serve several embedders without mixing
their vectors. Cached vectors are read-only arrays, handed out without copying.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .base import EmbedResult, TextEmbedder, check_texts


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    size: int
    capacity: int

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


class EmbeddingCache:
    """LRU of vectors keyed by ``(fingerprint, text)``; ``capacity`` entries at most."""

    def __init__(self, capacity: int = 10_000) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ConfigError(f"embedding.cache_size must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self._data: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = 0

    def get(self, fingerprint: str, text: str) -> np.ndarray | None:
        key = (fingerprint, text)
        with self._lock:
            vector = self._data.get(key)
            if vector is None:
                self._misses += 1
                return None
            self._data.move_to_end(key)
            self._hits += 1
            return vector

    def put(self, fingerprint: str, text: str, vector: np.ndarray) -> np.ndarray:
        """Store a read-only copy of ``vector``; returns what is stored."""
        stored = np.array(vector, dtype=np.float32, copy=True)
        stored.flags.writeable = False
        key = (fingerprint, text)
        with self._lock:
            self._data[key] = stored
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
                self._evictions += 1
        return stored

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._data), self.capacity)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


class CachedEmbedder:
    """An embedder whose query embeddings go through an ``EmbeddingCache``.

    ``embed_query`` / ``embed_queries`` use the cache; ``embed`` and ``embed_with_info`` (bulk
    index-time work) pass straight through so documents never push queries out.
    """

    def __init__(self, embedder: TextEmbedder, cache: EmbeddingCache | None = None, capacity: int = 10_000) -> None:
        self.embedder = embedder
        self.cache = cache if cache is not None else EmbeddingCache(capacity)
        self.model_id = embedder.model_id
        self.dim = embedder.dim
        self.max_tokens = embedder.max_tokens

    @property
    def fingerprint(self) -> str:
        return self.embedder.fingerprint

    def describe(self) -> dict[str, Any]:
        return self.embedder.describe()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed(texts)

    def embed_with_info(self, texts: Sequence[str]) -> EmbedResult:
        return self.embedder.embed_with_info(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """float32 [dim] (read-only) for one query, from the cache when seen before."""
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One read-only vector per text; misses are embedded together in one call."""
        items = check_texts(texts)
        fp = self.embedder.fingerprint
        found: list[np.ndarray | None] = [self.cache.get(fp, t) for t in items]
        missing = list(dict.fromkeys(t for t, v in zip(items, found) if v is None))
        if missing:
            embed = getattr(self.embedder, "embed_queries", self.embedder.embed)  # the query prompt, where the model has one
            fresh = dict(zip(missing, embed(missing)))
            stored = {t: self.cache.put(fp, t, v) for t, v in fresh.items()}
            found = [v if v is not None else stored[t] for t, v in zip(items, found)]
        return found  # type: ignore[return-value]
