"""PostingsAccumulator: documents added in batches make the index BM25Index.build makes, byte for byte."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.config import AnalyzerConfig, BM25Config
from retrieval.keyword.bm25 import BM25Builder
from retrieval.keyword.variants import variant_names
from retrieval.keyword.vocabulary import Vocabulary
from retrieval.native import BM25Index, PostingsAccumulator
from retrieval.text import Analyzer

from ..conftest import shared_data
from .helpers import build, pack, q, zipf_corpus, zipf_queries

BLOCK = 128  # kBlockSize
PARAMS = [{"variant": v, "k1": 1.2, "b": 0.6, "epsilon": 0.3} for v in variant_names()]


def accumulate(docs, batch_sizes, vocab_size, **params):
    """The index of `docs` added in consecutive batches of the given sizes (the rest in one more)."""
    acc = PostingsAccumulator()
    start = 0
    for size in [*batch_sizes, len(docs)]:
        acc.add_batch(*pack(docs[start : start + size]))
        start = min(start + size, len(docs))
    return acc.finish(vocab_size, **params)


def assert_same_index(got, expected, queries=()):
    got_arrays, expected_arrays = got.arrays(), expected.arrays()
    assert got_arrays.keys() == expected_arrays.keys()
    for name, values in expected_arrays.items():
        assert got_arrays[name].dtype == values.dtype, name
        assert np.array_equal(got_arrays[name], values), name
    for query in queries:
        for strategy in ("exhaustive", "maxscore"):
            for a, b in zip(got.topk(query, 10, strategy), expected.topk(query, 10, strategy)):
                assert np.array_equal(a, b)


def assert_accumulates_like_build(docs, batch_sizes, vocab_size, queries=()):
    for params in PARAMS:
        expected = build(docs, vocab_size, **params)
        assert_same_index(accumulate(docs, batch_sizes, vocab_size, **params), expected, queries)


def long_lists(rng):
    """Terms in more than a block of documents (exactly one and two blocks among them)."""
    docs = [[0, 1] * (1 + d % 3) for d in range(3 * BLOCK + 5)]
    for d in range(2 * BLOCK):
        docs[d].append(2)
    for d in rng.choice(len(docs), BLOCK, replace=False):
        docs[d].append(3)
    return docs


SHAPES = {
    "one doc": ([[4, 1, 4]], [], 5),
    "only empty docs": ([[], [], []], [1], 2),
    "empty docs between": ([[], [0, 1], [], [], [1, 2, 2], []], [1, 2], 3),
    "doc longer than a block": ([list(range(300)) * 2, [299, 5], list(range(0, 600, 3))], [1], 600),
    "term ids unused past the last": ([[0, 1], [1]], [1], 10),
    "multi-byte gaps and tfs": ([[7]] + [[]] * 20_000 + [[7] * 20_000 + [8] * 200, [7]], [5_000, 10_001], 9),
}


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_equal_build(name):
    docs, batch_sizes, vocab_size = SHAPES[name]
    assert_accumulates_like_build(docs, batch_sizes, vocab_size, [q(range(vocab_size)), q([0]), q([])])


def test_multi_block_terms_in_batches_of_one_and_many():
    docs = long_lists(np.random.default_rng(3))
    queries = [q([0]), q([2, 3]), q([1, 3, 3])]
    assert_accumulates_like_build(docs, [1] * 200, 4, queries)
    assert_accumulates_like_build(docs, [BLOCK, 1, BLOCK - 1, 3 * BLOCK], 4, queries)


def test_vocabulary_grows_across_batches():
    """Each batch brings new, larger ids; earlier terms recur later."""
    rng = np.random.default_rng(5)
    docs = [rng.integers(0, 50 * (1 + d // 40), size=rng.integers(1, 30)).tolist() for d in range(400)]
    acc = PostingsAccumulator()
    for start in range(0, len(docs), 40):
        acc.add_batch(*pack(docs[start : start + 40]))
        assert acc.vocab_size == max(t for d in docs[: start + 40] for t in d) + 1
    vocab_size = acc.vocab_size
    assert_same_index(acc.finish(vocab_size), build(docs, vocab_size), [q(range(0, vocab_size, 7))])


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 30), max_size=40), max_size=300),
    st.lists(st.integers(0, 60), max_size=12),
    st.integers(0, 3),
    st.sampled_from(variant_names()),
)
def test_random_corpora_and_batches_equal_build(docs, batch_sizes, unused_ids, variant):
    vocab_size = max((t for d in docs for t in d), default=-1) + 1 + unused_ids
    expected = build(docs, vocab_size, variant=variant)
    assert_same_index(accumulate(docs, batch_sizes, vocab_size, variant=variant), expected, [q(range(vocab_size))])


def test_zipf_corpus_equals_build_and_arena_stays_near_the_encoded_size():
    rng = np.random.default_rng(11)
    docs = [d.tolist() for d in zipf_corpus(rng, 6_000, 5_000, 60)]
    acc = PostingsAccumulator()
    for start in range(0, len(docs), 700):
        acc.add_batch(*pack(docs[start : start + 700]))
    assert (acc.n_docs, acc.total_tokens) == (len(docs), sum(map(len, docs)))
    expected = build(docs, 5_000)
    assert acc.stream_bytes == expected.arrays()["postings"].size
    # Measured 1.45: segment headers and the free room of many rare terms (1.2 at 300k docs).
    assert acc.arena_bytes <= 1.55 * acc.stream_bytes
    assert_same_index(acc.finish(5_000), expected, zipf_queries(rng, 20, 5_000, 6))
    assert (acc.n_docs, acc.stream_bytes, acc.arena_bytes) == (0, 0, 0)


def test_empty_accumulator_equals_empty_build():
    expected = BM25Index.build(np.zeros(1, dtype=np.uint64), np.zeros(0, dtype=np.uint32), 0)
    assert_same_index(PostingsAccumulator().finish(0), expected)
    acc = PostingsAccumulator()
    acc.add_batch(np.zeros(1, dtype=np.uint64), np.zeros(0, dtype=np.uint32))
    assert (acc.n_docs, acc.vocab_size, acc.total_tokens) == (0, 0, 0)
    assert_same_index(acc.finish(0), expected)


@pytest.mark.parametrize(
    "offsets,tokens,error,message",
    [
        (np.array([0, 2], dtype=np.uint64), np.array([0, 1], dtype=np.int64), TypeError, "tokens must be a 1-D contiguous uint32"),
        (np.array([0, 2], dtype=np.int64), np.array([0, 1], dtype=np.uint32), TypeError, "doc_offsets must be .* uint64"),
        (np.array([0, 2], dtype=np.uint64), np.arange(4, dtype=np.uint32)[::2], ValueError, "non-contiguous"),
        (np.array([1, 2], dtype=np.uint64), np.array([0, 1], dtype=np.uint32), ValueError, "must start at 0"),
        (np.array([0, 2, 1, 2], dtype=np.uint64), np.array([0, 1], dtype=np.uint32), ValueError, "non-decreasing"),
        (np.array([0, 1], dtype=np.uint64), np.array([0, 1], dtype=np.uint32), ValueError, r"must end at len\(tokens\) = 2"),
        (np.array([], dtype=np.uint64), np.array([], dtype=np.uint32), ValueError, "n \\+ 1 entries"),
    ],
)
def test_bad_batches_are_rejected_and_add_nothing(offsets, tokens, error, message):
    acc = PostingsAccumulator()
    acc.add_batch(*pack([[0, 1], [1]]))
    with pytest.raises(error, match=message):
        acc.add_batch(offsets, tokens)
    assert (acc.n_docs, acc.vocab_size, acc.total_tokens) == (2, 2, 3)
    acc.add_batch(*pack([[2]]))
    assert_same_index(acc.finish(3), build([[0, 1], [1], [2]], 3))


@pytest.mark.parametrize(
    "vocab_size,kwargs,error,message",
    [
        (4, {}, ValueError, "vocab_size is 4, but the documents added contain id 9; vocab_size must be > every id"),
        (-1, {}, ValueError, "vocab_size must be >= 0"),
        (2**32 + 1, {}, ValueError, r"vocab_size must be <= 2\*\*32"),
        (10, {"variant": "bm25+"}, ValueError, "unknown BM25 variant"),
        (10, {"k1": -1.0}, ValueError, "k1 must be"),
        (10, {"n_threads": -1}, ValueError, "n_threads must be >= 0"),
    ],
)
def test_bad_finish_arguments_leave_the_accumulator_usable(vocab_size, kwargs, error, message):
    acc = PostingsAccumulator()
    acc.add_batch(*pack([[9, 0], [3]]))
    with pytest.raises(error, match=message):
        acc.finish(vocab_size, **kwargs)
    assert_same_index(acc.finish(10), build([[9, 0], [3]], 10))


def test_use_after_finish_fails():
    acc = PostingsAccumulator()
    acc.add_batch(*pack([[0]]))
    acc.finish(1)
    with pytest.raises(RuntimeError, match="this PostingsAccumulator was finished; start a new one"):
        acc.add_batch(*pack([[0]]))
    with pytest.raises(RuntimeError, match="was finished"):
        acc.finish(1)


def scifact_texts(n):
    with open(shared_data("scifact") / "corpus.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(n), handle)]
    return [f"{row['title']}\n{row['text']}" for row in rows] + [""]  # an empty document too


@pytest.mark.parametrize("variant", variant_names())
def test_builder_flushing_in_small_batches_equals_build(monkeypatch, variant):
    texts = scifact_texts(300)
    analyzer, config = Analyzer(AnalyzerConfig()), BM25Config(variant=variant, k1=1.3, b=0.7)
    monkeypatch.setattr(BM25Builder, "FLUSH_ENTRIES", 2_000)  # ~25 flushes over 300 abstracts
    builder = BM25Builder(analyzer, config)
    for text in texts:
        builder.add(text)
    bm25 = builder.build()

    vocabulary = Vocabulary()
    docs = [vocabulary.add(analyzer(text)) for text in texts]
    assert bm25.vocabulary.terms() == vocabulary.terms()
    expected = build(docs, len(vocabulary), variant=variant, k1=1.3, b=0.7, epsilon=config.epsilon)
    assert_same_index(bm25.index, expected, [bm25.query_ids("vitamin D deficiency in children"), q([])])


def test_builder_is_single_use():
    builder = BM25Builder(Analyzer(AnalyzerConfig()), BM25Config())
    builder.add("vitamin d")
    builder.build()
    with pytest.raises(RuntimeError, match="already built"):
        builder.add("more text")
    with pytest.raises(RuntimeError, match="already built"):
        builder.build()


@pytest.mark.parametrize(
    "analyzer_config",
    [AnalyzerConfig(), AnalyzerConfig(stopwords=None, stemmer=None), AnalyzerConfig(lowercase=False, stopwords=("The", "of"))],
)
def test_builder_word_ids_equal_analyzer_then_vocabulary(analyzer_config):
    """add(text) looks each word's term id up once; the slow path analyzes, then maps terms."""
    texts = scifact_texts(200) + ["The the THE of", "  ", "x-ray X-Ray x_ray 3.5 naïve naive"]
    fast = BM25Builder(Analyzer(analyzer_config), BM25Config())
    slow = BM25Builder(Analyzer(analyzer_config), BM25Config())
    for text in texts:
        fast.add(text)
        slow.add_terms(slow.analyzer(text))
    assert fast.vocabulary.terms() == slow.vocabulary.terms()
    one, two = fast.build().index.arrays(), slow.build().index.arrays()
    assert all(np.array_equal(one[name], two[name]) for name in one)
