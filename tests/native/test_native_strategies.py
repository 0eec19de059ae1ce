"""Exhaustive and MaxScore top-k agree exactly on a larger Zipfian corpus full of ties."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.keyword.variants import variant_names
from retrieval.native import BM25Index, bm25_scores_reference, topk_reference

from .helpers import pack, zipf_corpus, zipf_queries

VOCAB = 2_000


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(20240601)
    docs = zipf_corpus(rng, 2_700, VOCAB, 40)
    # 300 exact duplicates -> many equal scores, so the smaller-id tie rule is exercised.
    dupes = rng.choice(len(docs), size=300, replace=False)
    docs = docs + [docs[i] for i in dupes]
    # One document with a term repeated 300 times (tf needs a 2-byte varint).
    docs.append(np.full(300, 7, dtype=np.uint32))
    queries = zipf_queries(rng, 200, VOCAB, 10)
    return [d.tolist() for d in docs], queries


@pytest.mark.parametrize("variant", variant_names())
def test_maxscore_equals_exhaustive_and_reference(corpus, variant):
    docs, queries = corpus
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, VOCAB, variant=variant, n_threads=2)
    bounds_only = BM25Index.build(offsets, tokens, VOCAB, variant=variant, n_threads=2)
    bounds_only.cache_limit = 0  # every strategy reads the quantized bound cache
    assert max(index.df(t) for t in range(VOCAB)) > 3 * 128  # terms spanning several blocks
    # Dense scores against the slow reference on a few queries (multi-block lists included).
    for query in queries[:5]:
        expected = bm25_scores_reference(docs, query.tolist(), variant)
        assert np.array_equal(index.scores(query), expected)
    tied_queries = 0
    for query in queries:
        dense = index.scores(query)
        mask = np.zeros(len(docs), dtype=bool)
        mask[index.matching(query)] = True
        for k in (1, 10, 100):
            want_ids, want_scores = topk_reference(dense, mask, k)
            for strategy in ("exhaustive", "maxscore", "bounded", "auto"):
                for tried in (index, bounds_only):
                    ids, scores = tried.topk(query, k, strategy)
                    assert np.array_equal(ids, want_ids), (strategy, k)
                    assert np.array_equal(scores, want_scores), (strategy, k)
            if k == 100:
                tied_queries += bool(np.any(np.diff(want_scores) == 0))
    assert tied_queries >= 50, tied_queries  # measured: 200 of 200 (lucene and okapi)


def test_large_ids_and_frequencies():
    """Doc gaps and term frequencies that need multi-byte varints decode exactly."""
    n = 20_000
    docs = [[] for _ in range(n)]
    for d in range(0, n, 997):  # gaps of 997 > 127
        docs[d] = [1] * (d % 400 + 1) + [2]
    docs[n - 1] = [3] * 70_000  # tf of 70,000: three varint bytes
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, 4, variant="okapi")
    bounds_only = BM25Index.build(offsets, tokens, 4, variant="okapi")
    bounds_only.cache_limit = 0
    for query in ([1], [2, 1], [3], [3, 1, 3]):
        expected = bm25_scores_reference(docs, query, "okapi")
        got = index.scores(np.array(query, dtype=np.uint32))
        assert np.array_equal(got, expected)
        mask = expected != 0
        mask[np.flatnonzero([any(t in d for t in query) for d in docs])] = True
        for strategy in ("exhaustive", "maxscore", "bounded"):
            for tried in (index, bounds_only):  # tfs >= 255 are read back from the compressed block
                ids, scores = tried.topk(np.array(query, dtype=np.uint32), 25, strategy)
                want_ids, want_scores = topk_reference(expected, mask, 25)
                assert np.array_equal(ids, want_ids) and np.array_equal(scores, want_scores)


def test_parallel_build_is_deterministic(corpus):
    docs, _ = corpus
    offsets, tokens = pack(docs)
    one = BM25Index.build(offsets, tokens, VOCAB, variant="okapi", n_threads=1).arrays()
    two = BM25Index.build(offsets, tokens, VOCAB, variant="okapi", n_threads=2).arrays()
    many = BM25Index.build(offsets, tokens, VOCAB, variant="okapi", n_threads=7).arrays()
    for name in one:
        assert np.array_equal(one[name], two[name]) and np.array_equal(one[name], many[name]), name


def test_large_index_queries_run_on_the_bound_cache():
    """Past kBoundedMinDocs, `auto` scores long queries over the bound cache, with the same answers."""
    rng = np.random.default_rng(7)
    docs = zipf_corpus(rng, 140_000, 500, 6)
    offsets, tokens = pack([d.tolist() for d in docs])
    index = BM25Index.build(offsets, tokens, 500, variant="lucene", n_threads=2)
    exact = BM25Index.build(offsets, tokens, 500, variant="lucene", n_threads=2)
    exact.bound_cache_limit = 0  # the exact paths only
    for query in zipf_queries(rng, 30, 500, 8):
        for k in (10, 100):
            want = exact.topk(query, k, "exhaustive")
            got = index.topk(query, k, "auto")
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert index.bound_cache_bytes > 0  # short queries still take the exact sparse path
    assert exact.bound_cache_bytes == 0
