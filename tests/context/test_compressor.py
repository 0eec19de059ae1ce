"""The compressor: exact budgets, order and citations, and the fast path against the reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval import Engine
from retrieval.config import CompressorConfig
from retrieval.context import ContextCompressor, render
from retrieval.context.reference import compress_reference
from retrieval.context.render import Source, header
from retrieval.errors import BundleError, QueryError
from retrieval.types import Hit

from .conftest import QUERIES


def _hits(engine: Engine, query: str, k: int = 6) -> tuple[Hit, ...]:
    mode = "hybrid" if "hybrid" in engine.modes else "bm25"
    return engine.search(query, k=k, mode=mode).hits


def _full_tokens(tokenizer, hits) -> int:
    return tokenizer.count(render([Source(i + 1, h.chunk, h.id, h.doc_id, h.title, h.text) for i, h in enumerate(hits)]))


@settings(derandomize=True, database=None, max_examples=40, deadline=None)
@given(query=st.sampled_from(QUERIES), fraction=st.floats(0.0, 1.1), k=st.integers(1, 8))
def test_never_over_budget_on_bundle_hits(dense_engine: Engine, tokenizer, query: str, fraction: float, k: int):
    compressor = ContextCompressor.for_engine(dense_engine, tokenizer)
    hits = _hits(dense_engine, query, k)
    budget = int(fraction * _full_tokens(tokenizer, hits))
    out = compressor.compress(query, hits, budget)
    assert out.tokens == tokenizer.count(out.text) <= budget
    assert out.sentences_kept <= out.sentences_total


class JoinCostTokenizer:
    """Words, plus 2 tokens wherever one sentence follows another on a line: a cost that no
    per-sentence count sees, like tokens merging across a boundary but bigger, so only the
    final exact count keeps the budget."""

    fingerprint = "join-cost"

    def count(self, text: str) -> int:
        return len(text.split()) + 2 * text.count(". ")

    def count_many(self, texts) -> list[int]:
        return [self.count(t) for t in texts]


@settings(derandomize=True, database=None, max_examples=40, deadline=None)
@given(query=st.sampled_from(QUERIES), budget=st.integers(0, 120), k=st.integers(1, 8))
def test_never_over_budget_when_sentence_counts_do_not_add_up(dense_engine: Engine, query: str, budget: int, k: int):
    tokenizer = JoinCostTokenizer()
    out = ContextCompressor.for_engine(dense_engine, tokenizer).compress(query, _hits(dense_engine, query, k), budget)
    assert out.tokens == tokenizer.count(out.text) <= budget


_PIECES = list("abcdeéxyz0123456789-'\"()[].,;😀\t\u0301") + ["日本", "'s", "..."]
_WORD = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=9).map("".join)
_SENTENCE = st.lists(_WORD, min_size=1, max_size=12).map(" ".join).map(lambda s: s[0].upper() + s[1:] + ".")
_TEXT = st.lists(_SENTENCE, min_size=1, max_size=8).flatmap(
    lambda ss: st.sampled_from([" ", "\n", "  "]).map(lambda sep: sep.join(ss))
)


@settings(derandomize=True, database=None, max_examples=80, deadline=None)
@given(texts=st.lists(_TEXT, min_size=1, max_size=5), titles=st.lists(st.sampled_from(["", "T", "Über 9"]), min_size=5,
       max_size=5), budget=st.integers(0, 200), query=_SENTENCE)
def test_never_over_budget_on_arbitrary_text(keyword_engine: Engine, tokenizer, texts, titles, budget, query):
    # No sentence index: sentences are split per call (chunk rows are made up, one per text).
    compressor = ContextCompressor.for_engine(keyword_engine, tokenizer, CompressorConfig(cache_size=0))
    hits = [Hit(chunk=i, id=f"x#{i}", doc_id=f"x{i}", score=1.0, text=t, title=titles[i]) for i, t in enumerate(texts)]
    out = compressor.compress(query, hits, budget)
    assert out.tokens == tokenizer.count(out.text) <= budget


def test_sentence_order_and_citations_are_preserved(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    query = "what does the CPU do with instructions"
    hits = _hits(dense_engine, query, 6)
    out = compressor.compress(query, hits, _full_tokens(embedder_tokens, hits) // 3)
    assert out.compressed and out.sources and out.sentences_kept < out.sentences_total
    numbers = [s.number for s in out.sources]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for source in out.sources:
        hit = hits[source.number - 1]  # the number is the hit's rank, kept when others drop out
        assert (source.chunk, source.chunk_id, source.doc_id, source.title) == (hit.chunk, hit.id, hit.doc_id, hit.title)
        starts = [s for s, _ in source.sentences]
        assert starts == sorted(starts)
        assert source.text == " ".join(hit.text[s:e] for s, e in source.sentences)
    assert out.text == "\n\n".join(header(s.number, s.title) + s.text for s in out.sources)


def test_a_context_that_fits_is_returned_whole(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    hits = _hits(dense_engine, "is memory volatile", 3)
    full = _full_tokens(embedder_tokens, hits)
    out = compressor.compress("is memory volatile", hits, full)
    assert not out.compressed and out.tokens == out.tokens_before == full
    assert [s.text for s in out.sources] == [h.text for h in hits] and out.sources[0].sentences == ()
    empty = compressor.compress("anything", [], 10)
    assert empty.text == "" and empty.tokens == 0


def test_the_answer_sentence_is_kept_under_a_tight_budget(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    query = "how many cycles per second is 3 GHz"
    hits = _hits(dense_engine, query, 6)
    out = compressor.compress(query, hits, 40)
    assert "three billion cycles per second" in out.text and out.tokens <= 40


@pytest.mark.parametrize(
    "config",
    [
        CompressorConfig(),
        CompressorConfig(keyword_weight=0.0, rank_weight=0.0, chunk_weight=0.0),
        CompressorConfig(dense_weight=0.0, keyword_weight=2.0, rank_weight=1.0, redundancy_threshold=0.5),
    ],
    ids=["defaults", "cosine-only", "keyword-heavy"],
)
def test_fast_compressor_selects_what_the_reference_selects(dense_engine: Engine, tokenizer, config: CompressorConfig):
    compressor = ContextCompressor.for_engine(dense_engine, tokenizer, config)
    bm25 = dense_engine.bm25
    embedder = dense_engine.planner.dense.embedder
    compared = 0
    for query in QUERIES:
        hits = _hits(dense_engine, query, 8)
        full = _full_tokens(tokenizer, hits)
        vector = embedder.embed_query(query)
        for budget in sorted({0, 5, full // 6, full // 4, full // 2, full - 1, full}):
            for _ in range(2):  # cold, then from the cache
                out = compressor.compress(query, hits, budget, vector)
                want = compress_reference(
                    query, hits, budget, tokenizer=tokenizer, analyzer=bm25.analyzer, vocabulary=bm25.vocabulary,
                    idf=np.asarray(bm25.index.arrays()["idf"]), sentences=dense_engine.sentences,
                    query_vector=vector, config=config, chunk_vectors=dense_engine.planner.dense.vectors,
                )
                assert (out.sources, out.text, out.tokens) == want, (query, budget)
                compared += 1
    assert compared >= 40


def test_keyword_only_bundle_matches_the_reference_too(keyword_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(keyword_engine, embedder_tokens)
    bm25 = keyword_engine.bm25
    for query in QUERIES:
        hits = _hits(keyword_engine, query, 5)
        for budget in (10, 30, 60):
            out = compressor.compress(query, hits, budget)
            want = compress_reference(
                query, hits, budget, tokenizer=embedder_tokens, analyzer=bm25.analyzer, vocabulary=bm25.vocabulary,
                idf=np.asarray(bm25.index.arrays()["idf"]), sentences=None, query_vector=None,
                config=compressor.config,
            )
            assert (out.sources, out.text, out.tokens) == want


def test_query_vector_is_embedded_when_not_given(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    query = "which drive has no moving parts"
    hits = _hits(dense_engine, query)
    budget = _full_tokens(embedder_tokens, hits) // 4
    given_vector = compressor.compress(query, hits, budget, dense_engine.planner.dense.embedder.embed_query(query))
    assert compressor.compress(query, hits, budget).sources == given_vector.sources


def test_sentence_facts_are_cached_per_tokenizer(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    hits = _hits(dense_engine, "what are GPUs used for")
    compressor.compress("what are GPUs used for", hits, 20)
    misses = compressor.cache.misses
    compressor.compress("what are GPUs used for", hits, 25)
    assert compressor.cache.misses == misses and compressor.cache.hits > 0

    class Other:
        fingerprint = "another tokenizer"
        count = staticmethod(embedder_tokens.count)
        count_many = staticmethod(embedder_tokens.count_many)

    other = ContextCompressor.for_engine(dense_engine, Other())
    other.cache = compressor.cache  # one cache, two tokenizers: keys must not collide
    before = len(compressor.cache)
    other.compress("what are GPUs used for", hits, 20)
    assert len(compressor.cache) > before


def test_the_cache_is_bounded(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens, CompressorConfig(cache_size=5))
    for query in QUERIES:
        compressor.compress(query, _hits(dense_engine, query), 15)
    assert len(compressor.cache) == 5


def test_bad_budget_and_query_vector_are_query_errors(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    hits = _hits(dense_engine, "json")
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(QueryError, match="budget_tokens"):
            compressor.compress("json", hits, bad)
    with pytest.raises(QueryError, match="dimensions"):
        compressor.compress("json", hits, 5, np.ones(7, dtype=np.float32))


def test_hits_from_another_bundle_are_refused(dense_engine: Engine, embedder_tokens):
    compressor = ContextCompressor.for_engine(dense_engine, embedder_tokens)
    hit = dataclasses.replace(_hits(dense_engine, "json")[0], text="short")
    with pytest.raises(BundleError, match="does not match the bundle's sentence index"):
        compressor.compress("json", [hit], 1)


def test_compressor_config_validation():
    from retrieval.errors import ConfigError

    with pytest.raises(ConfigError, match="keyword_weight"):
        CompressorConfig(keyword_weight=-0.1)
    with pytest.raises(ConfigError, match="redundancy_threshold"):
        CompressorConfig(redundancy_threshold=0.0)
    with pytest.raises(ConfigError, match="cache_size"):
        CompressorConfig(cache_size=-1)
