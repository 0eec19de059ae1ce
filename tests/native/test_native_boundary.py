"""Input checks at the C++ boundary: wrong dtypes, layouts, offsets, ids and parameters."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from retrieval.native import BM25Index

from .helpers import build, pack, q

DOCS = [[0, 1, 1], [2], [], [1, 3, 3, 3]]


@pytest.fixture(scope="module")
def index():
    return build(DOCS, 5, variant="lucene")


def test_properties(index):
    assert (index.n_docs, index.vocab_size, index.total_postings, index.total_tokens) == (4, 5, 5, 8)
    assert index.avgdl == 2.0
    assert (index.variant, index.k1, index.b, index.epsilon) == ("lucene", 1.5, 0.75, 0.25)
    assert [index.df(t) for t in range(5)] == [1, 2, 1, 1, 0]
    assert "n_docs=4" in repr(index)
    with pytest.raises(ValueError, match="out of range"):
        index.df(5)
    with pytest.raises(AttributeError):
        index.n_docs = 3


def test_empty_corpus_and_empty_query():
    empty = BM25Index.build(np.zeros(1, dtype=np.uint64), np.zeros(0, dtype=np.uint32), 0)
    assert empty.n_docs == 0 and empty.avgdl == 0.0
    ids, scores = empty.topk(q([]), 5)
    assert ids.shape == (0,) and scores.shape == (0,)
    assert empty.scores(q([])).shape == (0,)
    ids, scores, counts = empty.topk_batch(np.zeros(1, dtype=np.uint64), q([]), 3)
    assert ids.shape == scores.shape == (0, 3) and counts.shape == (0,)
    reopened = BM25Index.from_arrays(empty.arrays(), "lucene")
    assert reopened.n_docs == 0 and reopened.topk(q([]), 1)[0].size == 0
    only_empty_docs = build([[], []], 2)
    assert np.array_equal(only_empty_docs.scores(q([0, 1])), [0.0, 0.0])
    assert only_empty_docs.topk(q([1]), 3)[0].size == 0


@pytest.mark.parametrize(
    "offsets,tokens,error,message",
    [
        (
            np.array([0, 2], dtype=np.uint64),
            np.array([0, 1], dtype=np.int64),
            TypeError,
            r"tokens must be a 1-D contiguous uint32 array, got dtype int64; "
            r"use np\.ascontiguousarray\(x, dtype=np\.uint32\)",
        ),
        (np.array([0, 2], dtype=np.uint64), [0, 1], TypeError, "tokens must be .* got list"),
        (np.array([0, 2], dtype=np.uint64), np.array([[0, 1]], dtype=np.uint32), ValueError, r"shape \(1, 2\)"),
        (np.array([0, 2], dtype=np.uint64), np.arange(4, dtype=np.uint32)[::2], ValueError, "non-contiguous"),
        (np.array([0, 2], dtype=np.int64), np.array([0, 1], dtype=np.uint32), TypeError, "doc_offsets must be .* uint64"),
        (np.array([1, 2], dtype=np.uint64), np.array([0, 1], dtype=np.uint32), ValueError, "must start at 0"),
        (np.array([0, 2, 1, 2], dtype=np.uint64), np.array([0, 1], dtype=np.uint32), ValueError, "non-decreasing"),
        (np.array([0, 1], dtype=np.uint64), np.array([0, 1], dtype=np.uint32), ValueError, r"must end at len\(tokens\) = 2"),
        (np.array([], dtype=np.uint64), np.array([], dtype=np.uint32), ValueError, "n \\+ 1 entries"),
        (np.array([0, 2], dtype=np.uint64), np.array([0, 9], dtype=np.uint32), ValueError, "id 9 at position 1"),
    ],
)
def test_build_rejects_bad_input(offsets, tokens, error, message):
    with pytest.raises(error, match=message):
        BM25Index.build(offsets, tokens, 5)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"variant": "bm25+"}, "unknown BM25 variant 'bm25\\+'; use 'lucene' or 'okapi'"),
        ({"k1": -1.0}, "k1 must be"),
        ({"k1": float("nan")}, "k1 must be"),
        ({"b": 1.5}, r"b must be in \[0, 1\]"),
        ({"epsilon": float("inf")}, "epsilon must be"),
        ({"n_threads": -1}, "n_threads must be >= 0"),
    ],
)
def test_build_rejects_bad_parameters(kwargs, message):
    offsets, tokens = pack(DOCS)
    with pytest.raises(ValueError, match=message):
        BM25Index.build(offsets, tokens, 5, **kwargs)


def test_query_checks(index):
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        index.topk(q([1]), 0)
    with pytest.raises(ValueError, match="unknown top-k strategy 'wand'"):
        index.topk(q([1]), 3, strategy="wand")
    for call in (lambda x: index.topk(x, 3), index.scores, index.matching):
        with pytest.raises(ValueError, match="query contains id 5 at position 1, but vocab_size is 5"):
            call(q([1, 5]))
        with pytest.raises(TypeError, match="query must be a 1-D contiguous uint32 array"):
            call(np.array([1], dtype=np.int32))
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.topk_batch(np.array([0, 1], dtype=np.uint64), q([1]), -2)
    with pytest.raises(ValueError, match=r"query_offsets must end at len\(query_tokens\) = 1"):
        index.topk_batch(np.array([0, 2], dtype=np.uint64), q([1]), 2)
    with pytest.raises(ValueError, match="query_tokens contains id 7"):
        index.topk_batch(np.array([0, 1], dtype=np.uint64), q([7]), 2)


def test_read_only_inputs_are_accepted(index):
    offsets, tokens = pack(DOCS)
    offsets.flags.writeable = False
    tokens.flags.writeable = False
    other = BM25Index.build(offsets, tokens, 5)
    query = q([1, 3])
    query.flags.writeable = False
    assert np.array_equal(other.topk(query, 2)[0], index.topk(query, 2)[0])


def test_concurrent_queries_from_python_threads():
    rng = np.random.default_rng(5)
    docs = [rng.integers(0, 300, size=rng.integers(1, 60)).tolist() for _ in range(2_000)]
    index = build(docs, 300)
    queries = [rng.integers(0, 300, size=6).astype(np.uint32) for _ in range(200)]
    expected = [index.topk(x, 10, "exhaustive") for x in queries]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda x: index.topk(x, 10, "exhaustive"), queries))
    for (a, b), (c, d) in zip(expected, got):
        assert np.array_equal(a, c) and np.array_equal(b, d)
