"""Property tests: the native index equals the numpy reference exactly, for every strategy."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from retrieval.keyword.variants import variant_names
from retrieval.native import bm25_scores_reference, topk_reference

from .helpers import build, pack, q

STRATEGIES = ("exhaustive", "maxscore", "bounded", "auto")
# Where the strategies read postings from: the exact impact cache (default: it has room for these
# corpora), the bound cache alone (quantized bounds, exact rescoring), or neither (decode blocks).
CACHES = ({}, {"cache_limit": 0}, {"cache_limit": 0, "bound_cache_limit": 0})


def build_with(docs, vocab_size, caches, **params):
    index = build(docs, vocab_size, **params)
    for name, value in caches.items():
        setattr(index, name, value)
    return index


@st.composite
def cases(draw, max_vocab=40, max_len=30, min_docs=1, max_docs=60):
    vocab = draw(st.integers(1, max_vocab))
    docs = draw(st.lists(st.lists(st.integers(0, vocab - 1), max_size=max_len), min_size=min_docs, max_size=max_docs))
    vocab_size = vocab + draw(st.integers(0, 3))  # some ids never occur (df = 0)
    queries = draw(st.lists(st.lists(st.integers(0, vocab_size - 1), max_size=12), min_size=1, max_size=4))
    params = {
        "variant": draw(st.sampled_from(variant_names())),
        "k1": draw(st.floats(0.0, 3.0)),
        "b": draw(st.floats(0.0, 1.0)),
        "epsilon": draw(st.floats(-0.5, 1.0)),
    }
    k = draw(st.integers(1, len(docs) + 3))  # k > n_docs included
    return docs, vocab_size, queries, params, k


def matching_mask(docs, query):
    terms = set(query)
    return np.array([bool(terms.intersection(d)) for d in docs], dtype=bool)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(cases())
@example(([[]], 1, [[0], []], {"variant": "okapi", "k1": 1.5, "b": 0.75, "epsilon": 0.25}, 2))
@example(([[0, 0, 1]], 2, [[0, 1, 0]], {"variant": "okapi", "k1": 1.2, "b": 1.0, "epsilon": 0.25}, 1))
@example(([[0], [0], [1], []], 3, [[0, 2, 0, 1]], {"variant": "lucene", "k1": 0.0, "b": 1.0, "epsilon": 0.0}, 10))
def test_native_equals_reference(case):
    check_against_reference(*case)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(cases(max_vocab=6, max_len=5, min_docs=129, max_docs=400))
def test_multi_block_lists_equal_reference(case):
    """Posting lists longer than one 128-posting block: skipping and block bounds in play."""
    check_against_reference(*case)


def check_against_reference(docs, vocab_size, queries, params, k):
    for caches in CACHES:
        check_one(build_with(docs, vocab_size, caches, **params), docs, queries, params, k)


def check_one(index, docs, queries, params, k):
    assert index.n_docs == len(docs)
    assert index.total_postings == sum(len(set(d)) for d in docs)
    for query in queries:
        expected = bm25_scores_reference(docs, query, **params)
        got = index.scores(q(query))
        assert got.dtype == np.float64
        assert np.array_equal(got, expected), (got, expected)
        mask = matching_mask(docs, query)
        assert np.array_equal(index.matching(q(query)), np.flatnonzero(mask))
        want_ids, want_scores = topk_reference(expected, mask, k)
        for strategy in STRATEGIES:
            ids, scores = index.topk(q(query), k, strategy)
            assert ids.dtype == np.int64 and scores.dtype == np.float64
            assert np.array_equal(ids, want_ids), (strategy, ids, want_ids)
            assert np.array_equal(scores, want_scores), (strategy, scores, want_scores)



@settings(max_examples=150, derandomize=True, deadline=None)
@given(cases())
def test_batch_equals_single_queries(case):
    docs, vocab_size, queries, params, k = case
    index = build(docs, vocab_size, **params)
    offsets, tokens = pack(queries)
    for n_threads in (1, 2):
        for strategy in ("exhaustive", "maxscore"):
            ids, scores, counts = index.topk_batch(offsets, tokens, k, n_threads=n_threads, strategy=strategy)
            assert ids.shape == scores.shape == (len(queries), k) and counts.shape == (len(queries),)
            for row, query in enumerate(queries):
                one_ids, one_scores = index.topk(q(query), k, strategy)
                n = len(one_ids)
                assert counts[row] == n
                assert np.array_equal(ids[row, :n], one_ids)
                assert np.array_equal(scores[row, :n], one_scores)
                assert np.all(ids[row, n:] == -1) and np.all(scores[row, n:] == -np.inf)
