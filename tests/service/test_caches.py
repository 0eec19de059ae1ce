"""ResultCache (exact, LRU + TTL), cache keys, and SemanticCache (cosine threshold, LRU)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from retrieval.errors import ConfigError, QueryError
from retrieval.service.caches import ResultCache, SemanticCache, result_key, semantic_key


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


# -- keys -------------------------------------------------------------------------------------


def test_result_key_separates_everything_that_changes_the_answer():
    base = result_key("json", "hybrid", 10, {"nprobe": 4, "method": "rrf"}, None, "v1")
    assert base == result_key("json", "hybrid", 10, {"method": "rrf", "nprobe": 4}, None, "v1")  # order-free
    assert base == result_key("json", "hybrid", 10, (("nprobe", 4), ("method", "rrf")), (), "v1")  # pairs too
    different = [
        result_key("JSON", "hybrid", 10, {"nprobe": 4, "method": "rrf"}, None, "v1"),
        result_key("json", "dense", 10, {"nprobe": 4, "method": "rrf"}, None, "v1"),
        result_key("json", "hybrid", 11, {"nprobe": 4, "method": "rrf"}, None, "v1"),
        result_key("json", "hybrid", 10, {"nprobe": 5, "method": "rrf"}, None, "v1"),
        result_key("json", "hybrid", 10, {"nprobe": 4}, None, "v1"),
        result_key("json", "hybrid", 10, {"nprobe": 4, "method": "rrf"}, {"lang": "en"}, "v1"),
        result_key("json", "hybrid", 10, {"nprobe": 4, "method": "rrf"}, None, "v2"),
    ]
    assert len({base, *different}) == len(different) + 1
    hash(base)


def test_param_types_matter_even_where_python_equality_does_not():
    keys = {result_key("q", "dense", 10, {"x": value}, None, "v") for value in (1, 1.0, True, "1", np.int64(1))}
    # 1 == 1.0 == True in Python; as search parameters they differ. numpy's int64 is an int.
    assert len(keys) == 4
    assert result_key("q", "dense", 10, {"x": np.int64(1)}, None, "v") == result_key("q", "dense", 10, {"x": 1}, None, "v")
    assert result_key("q", "dense", 10, {"x": 0.1}, None, "v") != result_key("q", "dense", 10, {"x": 0.1000001}, None, "v")


def test_filters_are_order_free_and_accept_mappings_pairs_and_filter_objects():
    class Filter:  # the proto's shape: .key and .values
        def __init__(self, key, values):
            self.key, self.values = key, values

    want = semantic_key("bm25", 5, {}, [("lang", ["en", "de"]), ("year", ["2020"])], "v")
    assert semantic_key("bm25", 5, {}, [("year", ["2020"]), ("lang", ["de", "en"])], "v") == want
    assert semantic_key("bm25", 5, {}, {"lang": ["de", "en"], "year": "2020"}, "v") == want
    assert semantic_key("bm25", 5, {}, [Filter("year", ["2020"]), Filter("lang", ["en", "de"])], "v") == want
    assert semantic_key("bm25", 5, {}, [("lang", ["en"]), ("year", ["2020"])], "v") != want
    assert semantic_key("bm25", 5, {}, None, "v") == semantic_key("bm25", 5, {}, [], "v")
    assert result_key("a", "bm25", 5, {}, None, "v") == ("a", semantic_key("bm25", 5, {}, None, "v"))


# -- ResultCache ------------------------------------------------------------------------------


def test_result_cache_hits_misses_and_lru_eviction():
    cache = ResultCache(2)
    assert cache.get("a") is None
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)  # evicts b
    assert cache.get("b") is None and cache.get("c") == 3 and cache.get("a") == 1
    assert (cache.hits, cache.misses) == (3, 2)
    assert cache.hit_ratio == pytest.approx(3 / 5)
    assert len(cache) == 2
    cache.put("a", 10)  # overwrite keeps one entry
    assert cache.get("a") == 10 and len(cache) == 2
    cache.clear()
    assert len(cache) == 0 and cache.get("a") is None
    assert cache.hits == 4  # counters are lifetime totals


def test_result_cache_ttl_expires_entries():
    cache = ResultCache(10, ttl_s=0.05)
    cache.put("k", "v")
    assert cache.get("k") == "v"
    time.sleep(0.07)
    assert cache.get("k") is None and len(cache) == 0


def test_capacity_zero_turns_the_cache_off_and_bad_settings_are_config_errors():
    off = ResultCache(0)
    off.put("k", 1)
    assert off.get("k") is None and off.hit_ratio == 0.0
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError):
            ResultCache(bad)  # type: ignore[arg-type]
    for ttl in (0, -1, "5"):
        with pytest.raises(ConfigError):
            ResultCache(5, ttl_s=ttl)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SemanticCache(5, threshold=1.5)


def test_result_cache_is_thread_safe():
    cache = ResultCache(64)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for key in rng.integers(0, 128, size=4000).tolist():
                value = cache.get(key)  # one read: a second could miss after another thread's eviction
                if value is None:
                    cache.put(key, key * 2)
                elif value != key * 2:
                    raise AssertionError(f"wrong value {value!r} for {key}")
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) <= 64
    assert cache.hits + cache.misses >= 4 * 4000


# -- SemanticCache ----------------------------------------------------------------------------


def test_semantic_cache_reuses_results_within_the_threshold_only():
    cache = SemanticCache(100, threshold=0.95)
    key = semantic_key("dense", 10, {}, None, "v1")
    q = unit([1, 0, 0, 0])
    cache.put(q, key, "hits for q")
    near = unit([1, 0.2, 0, 0])  # cosine 0.981
    far = unit([1, 0.5, 0, 0])  # cosine 0.894
    assert cache.lookup(near, key) == "hits for q"
    assert cache.lookup(far, key) is None
    assert cache.lookup(q, semantic_key("dense", 5, {}, None, "v1")) is None  # another k
    assert cache.lookup(q, semantic_key("dense", 10, {}, None, "v2")) is None  # another bundle
    assert (cache.hits, cache.misses) == (1, 3)
    assert cache.hit_ratio == pytest.approx(0.25)


def test_semantic_cache_returns_the_most_similar_entry():
    cache = SemanticCache(100, threshold=0.5)
    cache.put(unit([1, 0, 0]), "k", "x")
    cache.put(unit([0, 1, 0]), "k", "y")
    cache.put(unit([0, 0, 1]), "k", "z")
    assert cache.lookup(unit([0.2, 0.9, 0.1]), "k") == "y"
    assert cache.lookup(unit([0.1, 0.1, 0.9])[None, :], "k") == "z"  # [1, dim] is fine
    assert cache.lookup(np.array([0.0, 0.0, 3.0]), "k") == "z"  # normalised on the way in


def test_semantic_cache_replaces_near_duplicates_instead_of_growing():
    cache = SemanticCache(100, threshold=0.99)
    cache.put(unit([1, 0]), "k", "old")
    cache.put(unit([1, 0.01]), "k", "new")
    assert len(cache) == 1 and cache.lookup(unit([1, 0]), "k") == "new"


def test_semantic_cache_evicts_least_recently_used_across_keys():
    cache = SemanticCache(3, threshold=0.999)
    basis = np.eye(4, dtype=np.float32)
    cache.put(basis[0], "k1", 0)
    cache.put(basis[1], "k1", 1)
    cache.put(basis[2], "k2", 2)
    assert cache.lookup(basis[0], "k1") == 0  # refresh entry 0
    cache.put(basis[3], "k2", 3)  # evicts entry 1, the least recently used
    assert len(cache) == 3
    assert cache.lookup(basis[1], "k1") is None
    assert [cache.lookup(basis[i], k) for i, k in ((0, "k1"), (2, "k2"), (3, "k2"))] == [0, 2, 3]
    # Evicting the last entry of a key drops the key; rows of a key stay consistent after swaps.
    fresh = [unit([1, 1, 0, 0]), unit([0, 0, 1, 1]), unit([1, -1, 0, 0])]
    for i, v in enumerate(fresh):
        cache.put(v, "k3", f"n{i}")
    assert len(cache) == 3 and cache.lookup(basis[0], "k1") is None and cache.lookup(basis[2], "k2") is None
    assert [cache.lookup(v, "k3") for v in fresh] == ["n0", "n1", "n2"]


def test_semantic_cache_matches_brute_force_on_random_data():
    rng = np.random.default_rng(7)
    dim, n, threshold = 32, 300, 0.6
    cache = SemanticCache(n, threshold=threshold)
    stored = rng.normal(size=(n, dim)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    rows: list[int] = []  # the reference: which vectors became rows, and each row's value
    values: dict[int, int] = {}
    for i, v in enumerate(stored):
        scores = [float(stored[j] @ v) for j in rows]
        if scores and max(scores) >= threshold:
            values[rows[int(np.argmax(scores))]] = i  # a near-duplicate replaces the value
        else:
            rows.append(i)
            values[i] = i
        cache.put(v, "k", i)
    assert len(cache) == len(rows) < n
    queries = rng.normal(size=(200, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    hits = 0
    for q in queries:
        scores = stored[rows] @ q
        want = values[rows[int(np.argmax(scores))]] if scores.max() >= threshold else None
        assert cache.lookup(q, "k") == want
        hits += want is not None
    assert 0 < hits < len(queries)


def test_semantic_cache_edge_inputs():
    cache = SemanticCache(10, threshold=0.9)
    cache.put(np.zeros(4), "k", "zero")  # no direction: not cached
    assert len(cache) == 0 and cache.lookup(np.zeros(4), "k") is None
    cache.put(unit([1, 0, 0, 0]), "k", "a")
    with pytest.raises(QueryError, match="dimension"):
        cache.put(unit([1, 0, 0]), "k", "b")
    with pytest.raises(QueryError, match="shape"):
        cache.lookup(np.ones((2, 4)), "k")
    off = SemanticCache(0, threshold=0.9)
    off.put(unit([1, 0]), "k", "x")
    assert off.lookup(unit([1, 0]), "k") is None
    cache.clear()
    assert len(cache) == 0 and cache.lookup(unit([1, 0, 0, 0]), "k") is None


def test_semantic_lookup_finds_every_entry_at_capacity():
    # Speed is for benchmarks, not unit tests; this checks the full-capacity matrix path.
    rng = np.random.default_rng(0)
    cache = SemanticCache(2000, threshold=0.999)
    vectors = rng.normal(size=(2000, 384)).astype(np.float32)
    for i, v in enumerate(vectors):
        cache.put(v, "k", i)
    assert len(cache) == 2000
    for i, v in enumerate(vectors[:200]):
        assert cache.lookup(v, "k") == i
    assert cache.hits == 200
