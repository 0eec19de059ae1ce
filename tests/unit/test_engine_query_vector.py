"""Searching with a query vector computed by the caller (the service's batched embeddings)."""

from __future__ import annotations

import asyncio
import dataclasses

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.errors import QueryError
from retrieval.search.modes import SEARCH_MODES
from tests.conftest import SMALL_CORPUS, write_jsonl

DENSE_MODES = [name for name, mode in SEARCH_MODES.items() if mode.needs_dense]
QUERIES = ["how do I parse json text", "reading a file line by line", "regular expression matching", "python language"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("qvec")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": True}))
    return Engine.open(root / "bundle")


@pytest.fixture(scope="module")
def keyword_engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("qvec_bm25")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    return Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": False}))


class _CountingEmbedder:
    """Wraps the bundle's query embedder and counts calls, to prove a given vector skips it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    def embed_query(self, text: str) -> np.ndarray:
        self.calls += 1
        return self.inner.embed_query(text)


def _raw_embedder(engine: Engine):
    return engine.planner.dense.embedder.embedder  # under the LRU cache: really runs the model


@pytest.mark.parametrize("mode", DENSE_MODES)
def test_search_with_a_batched_vector_equals_search_without(engine: Engine, mode: str):
    # Embedded together in one batch (padding differs from one at a time), not via the cache.
    vectors = _raw_embedder(engine).embed(QUERIES)
    for query, vector in zip(QUERIES, vectors):
        plain = engine.search(query, k=4, mode=mode)
        given = engine.search(query, k=4, mode=mode, query_vector=vector)
        assert [h.id for h in given.hits] == [h.id for h in plain.hits], (mode, query)
        assert np.allclose([h.score for h in given.hits], [h.score for h in plain.hits], atol=1e-5)
        # auto embeds only the queries it does not answer with BM25 alone
        embeds = not (mode == "auto" and engine.routes_to_bm25(query))
        assert ("embed" in plain.timings.as_dict()) == embeds and "embed" not in given.timings.as_dict()
        # [1, dim] and float64 are accepted too.
        as_row = engine.search(query, k=4, mode=mode, query_vector=vector[None, :].astype(np.float64))
        assert [h.id for h in as_row.hits] == [h.id for h in plain.hits]


@pytest.mark.parametrize("mode", DENSE_MODES)
def test_the_given_vector_is_what_is_searched_and_the_embedder_is_not_called(engine: Engine, mode: str):
    other = engine.embed_queries(["reading a file line by line"])[0]
    counting = _CountingEmbedder(engine.planner.dense.embedder)
    original = engine.planner.dense
    engine.planner.dense = dataclasses.replace(original, embedder=counting)
    try:
        if mode == "dense":  # the text is ignored: the answer is the other query's
            want = engine.retrieve("reading a file line by line", 3, mode)[0]
            calls = counting.calls
            got = engine.retrieve("completely unrelated words", 3, mode, query_vector=other)[0]
            assert got.tolist() == want.tolist()
            assert counting.calls == calls
        counting.calls = 0
        engine.retrieve("json", 3, mode, query_vector=other)
        engine.search("json", 3, mode, query_vector=other)
        assert counting.calls == 0
    finally:
        engine.planner.dense = original


def test_asearch_passes_the_vector_through(engine: Engine):
    vector = _raw_embedder(engine).embed(["parse json"])[0]
    result = asyncio.run(engine.asearch("parse json", 3, "hybrid", None, vector))
    assert [h.id for h in result.hits] == [h.id for h in engine.search("parse json", 3, "hybrid").hits]
    assert "embed" not in result.timings.as_dict()


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(383, dtype=np.float32), "shape"),
        (np.zeros((2, 384), dtype=np.float32), "shape"),
        (np.zeros((1, 1, 384), dtype=np.float32), "shape"),
        (np.float32(1.0), "shape"),
        (np.ones(384, dtype=np.int64), "floats"),
        (np.array(["x"] * 384), "floats"),
        (np.full(384, np.nan, dtype=np.float32), "NaN or infinite"),
        (np.concatenate([np.ones(383), [np.inf]]), "NaN or infinite"),
        (np.full(384, 1e300), "NaN or infinite"),  # finite float64, infinite as float32
        ([[0.1] * 10, [0.2]], "float array"),  # ragged: not an array at all
    ],
)
@pytest.mark.parametrize("mode", DENSE_MODES)
def test_bad_vectors_raise_query_error(engine: Engine, bad, message: str, mode: str):
    with pytest.raises(QueryError, match=message):
        engine.search("json", 3, mode, query_vector=bad)


def test_bm25_ignores_the_vector(engine: Engine, keyword_engine: Engine):
    want = [h.id for h in engine.search("json module", 3, "bm25").hits]
    assert [h.id for h in engine.search("json module", 3, "bm25", query_vector=np.zeros(7)).hits] == want
    assert keyword_engine.search("json module", 3, "bm25", query_vector=np.ones(384, dtype=np.float32)).hits


def test_embed_queries_matches_embed_query_and_keyword_bundles_refuse(engine: Engine, keyword_engine: Engine):
    raw = _raw_embedder(engine)
    vectors = engine.embed_queries(QUERIES)
    assert vectors.shape == (len(QUERIES), 384) and vectors.dtype == np.float32 and vectors.flags.writeable
    for query, vector in zip(QUERIES, vectors):
        assert np.allclose(vector, raw.embed([query])[0], atol=1e-5)
    with pytest.raises(QueryError, match="no dense index"):
        keyword_engine.embed_queries(["json"])
    with pytest.raises(QueryError):
        engine.embed_queries([])


def test_version_names_the_bundle_contents(engine: Engine, keyword_engine: Engine, tmp_path):
    again = Engine.open(engine.path)
    assert again.version == engine.version and len(engine.version) == 64
    assert keyword_engine.version != engine.version
    # A rebuild of the same corpus is another bundle (build time, hashes): another version.
    rebuilt = Engine.build(write_jsonl(tmp_path / "c.jsonl", SMALL_CORPUS), tmp_path / "b", IndexConfig.from_dict({"dense": False}))
    assert rebuilt.version != keyword_engine.version


def test_open_can_override_the_embedders_threads(engine: Engine):
    reopened = Engine.open(engine.path, embedding_threads=1)
    assert _raw_embedder(reopened).intra_op_threads == 1
    assert _raw_embedder(Engine.open(engine.path)).intra_op_threads is None  # the bundle's setting: all cores
    q = "a query"
    np.testing.assert_allclose(reopened.planner.dense.embedder.embed_query(q), engine.planner.dense.embedder.embed_query(q), atol=1e-5)
