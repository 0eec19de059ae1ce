"""Query-embedding LRU cache and the CachedEmbedder wrapper (a fake embedder, no model)."""

from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
import pytest

from retrieval.embedding import CachedEmbedder, EmbeddingCache, EmbeddingInputError
from retrieval.embedding.base import EmbedResult, TextEmbedder, check_texts
from retrieval.errors import ConfigError


class FakeEmbedder:
    """Deterministic vectors from the text's characters; counts the texts it embedded."""

    model_id = "fake"
    dim = 4
    max_tokens = 256

    def __init__(self, fingerprint: str = "fp-a", scale: float = 1.0) -> None:
        self._fingerprint = fingerprint
        self.scale = scale
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict:
        return {"model_id": self.model_id, "fingerprint": self._fingerprint}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = check_texts(texts)
        with self._lock:
            self.calls.append(items)
        out = np.array([[len(t), sum(map(ord, t)) % 97, self.scale, 1.0] for t in items], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def embed_with_info(self, texts: Sequence[str]) -> EmbedResult:
        vectors = self.embed(texts)
        n = len(vectors)
        return EmbedResult(vectors, np.full(n, 3), np.zeros(n, dtype=bool))


def test_fake_follows_the_protocol() -> None:
    assert isinstance(FakeEmbedder(), TextEmbedder)
    assert isinstance(CachedEmbedder(FakeEmbedder()), TextEmbedder)


def test_hits_misses_and_lru_eviction() -> None:
    cache = EmbeddingCache(capacity=2)
    v = np.ones(4, dtype=np.float32)
    assert cache.get("f", "a") is None
    cache.put("f", "a", v)
    cache.put("f", "b", 2 * v)
    assert cache.get("f", "a") is not None  # "a" is now the most recent
    cache.put("f", "c", 3 * v)  # evicts "b", the least recently used
    assert cache.get("f", "b") is None
    assert np.array_equal(cache.get("f", "c"), 3 * v)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.evictions, stats.size, stats.capacity) == (2, 2, 1, 2, 2)
    assert stats.hit_rate == 0.5
    cache.clear()
    assert len(cache) == 0


def test_stored_vectors_are_read_only_copies() -> None:
    cache = EmbeddingCache(capacity=4)
    v = np.ones(4, dtype=np.float32)
    stored = cache.put("f", "a", v)
    v[0] = 9.0
    assert cache.get("f", "a")[0] == 1.0
    with pytest.raises(ValueError):
        stored[0] = 5.0


def test_keyed_by_fingerprint() -> None:
    cache = EmbeddingCache(capacity=8)
    a, b = CachedEmbedder(FakeEmbedder("fp-a", 1.0), cache), CachedEmbedder(FakeEmbedder("fp-b", 5.0), cache)
    va, vb = a.embed_query("same text"), b.embed_query("same text")
    assert not np.allclose(va, vb)  # the second embedder did not get the first one's vector
    assert cache.stats().misses == 2 and len(cache) == 2
    assert np.array_equal(a.embed_query("same text"), va)
    assert cache.stats().hits == 1


def test_embed_query_uses_the_cache_and_batches_misses_once() -> None:
    fake = FakeEmbedder()
    cached = CachedEmbedder(fake, capacity=16)
    first = cached.embed_query("what is bm25")
    again = cached.embed_query("what is bm25")
    assert again is first and fake.calls == [["what is bm25"]]
    out = cached.embed_queries(["x", "what is bm25", "y", "x"])
    assert fake.calls[-1] == ["x", "y"]  # misses only, each once
    assert out[1] is first and out[0] is out[3]
    assert np.allclose(np.stack(out), fake.embed(["x", "what is bm25", "y", "x"]))


def test_bulk_embedding_bypasses_the_cache() -> None:
    fake = FakeEmbedder()
    cached = CachedEmbedder(fake, capacity=16)
    cached.embed(["doc one", "doc two"])
    cached.embed_with_info(["doc three"])
    assert len(cached.cache) == 0
    assert cached.fingerprint == fake.fingerprint and cached.describe() == fake.describe() and cached.dim == 4


def test_bad_inputs_and_capacity() -> None:
    with pytest.raises(ConfigError):
        EmbeddingCache(capacity=0)
    cached = CachedEmbedder(FakeEmbedder())
    with pytest.raises(EmbeddingInputError):
        cached.embed_query(None)  # type: ignore[arg-type]
    with pytest.raises(EmbeddingInputError):
        cached.embed_queries([])


def test_concurrent_use_keeps_counts_consistent() -> None:
    cache = EmbeddingCache(capacity=50)
    cached = CachedEmbedder(FakeEmbedder(), cache)
    texts = [f"query {i % 80}" for i in range(400)]
    errors: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for i in range(len(texts)):
                t = texts[(i + offset) % len(texts)]
                v = cached.embed_query(t)
                assert np.allclose(v, cached.embedder.embed([t])[0])
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k * 37,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    stats = cache.stats()
    assert stats.hits + stats.misses == 8 * len(texts)
    # Two threads missing the same text both store it (the second replaces the first): <=.
    assert stats.size == 50 and 0 < stats.evictions <= stats.misses - stats.size
