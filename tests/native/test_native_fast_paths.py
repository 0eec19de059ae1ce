"""The query fast paths agree exactly with the reference: impact cache on, off or partly filled,
dense and sparse exhaustive selection (zero and negative scores included), concurrent fills."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.keyword.variants import variant_names
from retrieval.native import BM25Index, topk_reference

from .helpers import pack, zipf_corpus, zipf_queries

VOCAB = 800
BYTES_PER_POSTING = 12  # doc id (4) + contribution (8)


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(99)
    docs = zipf_corpus(rng, 1_500, VOCAB, 30)
    docs += [docs[i] for i in rng.choice(len(docs), size=200, replace=False)]  # ties
    queries = zipf_queries(rng, 60, VOCAB, 8)
    # Long queries over common terms (dense path) and short ones over rare terms (sparse path).
    queries += [np.arange(0, 12, dtype=np.uint32), np.array([VOCAB - 1, VOCAB - 2], dtype=np.uint32)]
    return [d.tolist() for d in docs], queries


def expected(index, query, k):
    mask = np.zeros(index.n_docs, dtype=bool)
    mask[index.matching(query)] = True
    return topk_reference(index.scores(query), mask, k)


def check(index, queries, ks=(1, 10, 100, 5_000)):
    for query in queries:
        for k in ks:
            want_ids, want_scores = expected(index, query, k)
            for strategy in ("exhaustive", "maxscore", "auto"):
                ids, scores = index.topk(query, k, strategy)
                assert np.array_equal(ids, want_ids), (strategy, k, query)
                assert np.array_equal(scores, want_scores), (strategy, k, query)


@pytest.mark.parametrize("limit", [None, 0, 40_000])  # default (all fits), off, partly filled
@pytest.mark.parametrize("variant", variant_names())
def test_results_do_not_depend_on_the_cache(corpus, variant, limit):
    docs, queries = corpus
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, VOCAB, variant=variant)
    if limit is not None:
        index.cache_limit = limit
    check(index, queries)
    assert index.cache_bytes <= index.cache_limit
    if limit == 0:
        assert index.cache_bytes == 0
    elif limit is None:  # every queried term was cached, 12 bytes a posting
        terms = np.unique(np.concatenate(queries))
        assert index.cache_bytes == BYTES_PER_POSTING * sum(index.df(int(t)) for t in terms)
    # Cached and uncached results are the same doubles.
    fresh = BM25Index.build(offsets, tokens, VOCAB, variant=variant)
    fresh.cache_limit = 0
    for query in queries:
        for strategy in ("exhaustive", "maxscore"):
            a, b = index.topk(query, 50, strategy), fresh.topk(query, 50, strategy)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert np.array_equal(index.scores(query), fresh.scores(query))


@pytest.mark.parametrize("epsilon", [0.0, -1.0])
def test_zero_and_negative_scores(epsilon):
    """okapi floors the idf of terms in more than half the docs at epsilon * mean idf: with
    epsilon 0 they add exactly 0.0 (matching docs scoring 0 must still be returned), with a
    negative epsilon they make scores negative. Both force the dense path's exact fallback."""
    rng = np.random.default_rng(5)
    docs = [[0, 1] + rng.integers(2, 60, size=rng.integers(1, 8)).tolist() for _ in range(400)]
    docs += [[int(t)] for t in rng.integers(2, 60, size=100)]  # docs without the common terms
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, 60, variant="okapi", epsilon=epsilon)
    common = np.array([0, 1, 0], dtype=np.uint32)
    assert index.scores(common).max() <= 0.0
    mixed = np.array([0, 5, 1, 7], dtype=np.uint32)
    check(index, [common, mixed, np.array([0], dtype=np.uint32)], ks=(1, 10, 399, 400, 401, 1_000))


def test_all_scores_tied():
    """Identical docs: every score is equal, so the order is by id alone (selection buffer
    shrinks happen among equal scores)."""
    docs = [[1, 2, 3, 2]] * 3_000 + [[4]]
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, 5)
    for k in (1, 7, 64, 65, 200, 2_999, 3_000, 3_001):
        ids, scores = index.topk(np.array([2, 1], dtype=np.uint32), k, "exhaustive")
        assert np.array_equal(ids, np.arange(min(k, 3_000)))
        assert np.all(scores == scores[0])


def test_equal_score_with_smaller_id_arrives_late():
    """Sparse selection sees docs in query-term order, not id order: after the buffer has kept k
    docs of the first term, equal-scoring docs of the second term with smaller ids must win."""
    # Term 1 in docs 1000..1099, term 2 in docs 0..99, same length and df: all 200 score the same.
    docs = [[2, 3, 3]] * 100 + [[3, 3, 3]] * 900 + [[1, 3, 3]] * 100 + [[3, 3, 3]] * 400
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, 4)
    query = np.array([1, 2], dtype=np.uint32)
    for k in (1, 10, 100, 150):
        want_ids, want_scores = expected(index, query, k)
        assert np.array_equal(want_ids, np.arange(k) if k <= 100 else np.r_[0:100, 1000 : 1000 + k - 100])
        for strategy in ("exhaustive", "maxscore"):
            ids, scores = index.topk(query, k, strategy)
            assert np.array_equal(ids, want_ids) and np.array_equal(scores, want_scores)


def test_concurrent_cache_fills_agree(corpus):
    """Worker threads fill the cache concurrently; results equal a serial run on a fresh index."""
    docs, queries = corpus
    offsets, tokens = pack(docs)
    serial = BM25Index.build(offsets, tokens, VOCAB, variant="okapi")
    serial.cache_limit = 0
    want = [serial.topk(q, 10, "exhaustive") for q in queries]
    batch = queries * 20
    q_offsets = np.zeros(len(batch) + 1, dtype=np.uint64)
    np.cumsum([len(q) for q in batch], out=q_offsets[1:])
    q_tokens = np.concatenate(batch).astype(np.uint32)
    for limit in (None, 60_000):
        index = BM25Index.build(offsets, tokens, VOCAB, variant="okapi")
        if limit is not None:
            index.cache_limit = limit
        ids, scores, counts = index.topk_batch(q_offsets, q_tokens, 10, n_threads=4, strategy="exhaustive")
        for i in range(len(batch)):
            w_ids, w_scores = want[i % len(queries)]
            assert counts[i] == len(w_ids)
            assert np.array_equal(ids[i, : counts[i]], w_ids)
            assert np.array_equal(scores[i, : counts[i]], w_scores)
        assert index.cache_bytes <= index.cache_limit


def test_cache_limit_property():
    offsets, tokens = pack([[0, 1], [1]])
    index = BM25Index.build(offsets, tokens, 2)
    assert index.cache_bytes == 0 and index.cache_limit > 0
    index.topk(np.array([1], dtype=np.uint32), 1)
    assert index.cache_bytes == 2 * BYTES_PER_POSTING
    index.cache_limit = 0  # later fills only; what is cached stays
    index.topk(np.array([0], dtype=np.uint32), 1)
    assert index.cache_bytes == 2 * BYTES_PER_POSTING
    with pytest.raises(ValueError, match="cache_limit"):
        index.cache_limit = -1


def test_corrupt_term_is_not_cached():
    """A fill that hits a corrupt block raises every time and leaves no entry behind."""
    rng = np.random.default_rng(1)
    docs = [d.tolist() for d in zipf_corpus(rng, 600, 300, 20)]
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, 300)
    arrays = {k: np.array(v) for k, v in index.arrays().items()}
    term = int(np.argmax(arrays["df"]))
    last_block = int(arrays["term_blocks"][term + 1]) - 1
    start, end = arrays["block_offsets"][last_block : last_block + 2]
    arrays["postings"][start:end] = 0
    damaged = BM25Index.from_arrays(arrays)
    for _ in range(2):
        for strategy in ("exhaustive", "maxscore"):
            with pytest.raises(ValueError, match="corrupt BM25 postings"):
                damaged.topk(np.array([term], dtype=np.uint32), 10, strategy)
    assert damaged.cache_bytes == 0
