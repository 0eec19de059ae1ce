"""A sharded collection answers exactly as one bundle over the same corpus.

BM25: ids and scores bit-identical (every shard scores with the corpus-wide statistics, the merge
breaks ties by the collection id one bundle gives). Dense (flat), hybrid (both fusions) and
prefilter: identical rankings. Metadata filters, ``search_batch`` and ``search_documents`` too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import Engine, IndexConfig
from retrieval.ingest import read_corpus, read_queries
from retrieval.types import Document

SHARD_COUNTS = (1, 2, 3, 7)
DENSE_DOCS = 300  # the dense comparison embeds this slice of SciFact once per shard count


def _with_metadata(docs: list[Document]) -> list[Document]:
    return [Document(d.id, d.text, d.title, {"part": str(i % 3)}) for i, d in enumerate(docs)]


@pytest.fixture(scope="module")
def scifact_queries(scifact_dir: Path) -> list[str]:
    return [text for _, text in read_queries(scifact_dir / "queries.jsonl")]


@pytest.fixture(scope="module")
def keyword_builds(scifact_dir: Path, tmp_path_factory) -> dict[int | None, Engine]:
    docs = _with_metadata(list(read_corpus(scifact_dir / "corpus.jsonl")))
    root = tmp_path_factory.mktemp("sharded-bm25")
    config = IndexConfig(dense=False)
    engines: dict[int | None, Engine] = {None: Engine.build(docs, root / "one", config)}
    for n in SHARD_COUNTS:
        engines[n] = Engine.build(docs, root / f"shards-{n}", config, shards=n)
    return engines


@pytest.mark.parametrize("shards", SHARD_COUNTS)
def test_bm25_on_scifact_is_bit_identical(keyword_builds, scifact_queries, shards: int) -> None:
    one, sharded = keyword_builds[None], keyword_builds[shards]
    assert sharded.counts == one.counts
    assert len(scifact_queries) == 300
    for query in scifact_queries:
        for filters in (None, {"part": ["1"]}):
            ids, scores, _ = one.retrieve(query, k=100, filters=filters)
            got_ids, got_scores, _ = sharded.retrieve(query, k=100, filters=filters)
            assert np.array_equal(got_ids, ids), query
            assert np.array_equal(got_scores, scores), query  # bit for bit, not approximately
    batch, expected = sharded.search_batch(scifact_queries, k=10), one.search_batch(scifact_queries, k=10)
    assert [[(h.chunk, h.id, h.score) for h in r.hits] for r in batch] == [
        [(h.chunk, h.id, h.score) for h in r.hits] for r in expected
    ]
    for query in scifact_queries[:20]:
        assert sharded.search_documents(query, k=10)[0] == one.search_documents(query, k=10)[0]


@pytest.fixture(scope="module")
def dense_builds(scifact_dir: Path, tmp_path_factory) -> dict[int | None, Engine]:
    docs = _with_metadata(list(read_corpus(scifact_dir / "corpus.jsonl"))[:DENSE_DOCS])
    root = tmp_path_factory.mktemp("sharded-dense")
    config = IndexConfig.from_dict({"sentences": False, "vector": {"kind": "flat"}})
    engines: dict[int | None, Engine] = {None: Engine.build(docs, root / "one", config)}
    for n in SHARD_COUNTS:
        engines[n] = Engine.build(docs, root / f"shards-{n}", config, shards=n)
    return engines


@pytest.mark.slow
@pytest.mark.parametrize("shards", SHARD_COUNTS)
def test_dense_hybrid_and_prefilter_rankings_are_identical(dense_builds, scifact_queries, shards: int) -> None:
    one, sharded = dense_builds[None], dense_builds[shards]
    cases = [
        ("dense", None),
        ("hybrid", {"method": "rrf"}),
        ("hybrid", {"method": "convex"}),
        ("prefilter", None),
        ("prefilter", {"exact_max": 0}),  # the id-selector path in every shard
    ]
    for query in scifact_queries[:100]:
        vector = one.embed_queries([query])[0]
        for mode, params in cases:
            for filters in (None, {"part": ["0", "2"]}):
                expected = one.retrieve(query, 20, mode, params, vector, filters)
                got = sharded.retrieve(query, 20, mode, params, vector, filters)
                assert np.array_equal(got[0], expected[0]), (mode, params, filters, query)
                np.testing.assert_allclose(got[1], expected[1], rtol=1e-6, atol=1e-7)


WORDS = ["alpha", "beta", "gamma", "delta", "kappa", "omega", "sigma", "theta", "zeta", "rho"]


@st.composite
def corpora(draw) -> list[Document]:
    n = draw(st.integers(1, 30))
    texts = draw(st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=12), min_size=n, max_size=n))
    return [Document(f"doc-{i}", " ".join(words), metadata={"even": str(i % 2 == 0)}) for i, words in enumerate(texts)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(docs=corpora(), shards=st.integers(1, 9), query=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4))
def test_random_corpora_and_shard_counts_match_one_bundle(tmp_path_factory, docs, shards, query) -> None:
    root = tmp_path_factory.mktemp("hypothesis")
    config = IndexConfig(dense=False)
    one = Engine.build(docs, root / "one", config)
    sharded = Engine.build(docs, root / "sharded", config, shards=shards)
    text = " ".join(query)
    for filters in (None, {"even": ["True"]}):
        ids, scores, _ = one.retrieve(text, k=len(docs), filters=filters)
        got_ids, got_scores, _ = sharded.retrieve(text, k=len(docs), filters=filters)
        assert np.array_equal(got_ids, ids) and np.array_equal(got_scores, scores)
    manifest = json.loads((root / "sharded" / "collection.json").read_text())
    assert manifest["routing"]["shards"] == shards and len(manifest["shards"]) == shards


@pytest.mark.slow
def test_shards_searched_on_threads_answer_the_same(dense_builds, scifact_queries, monkeypatch) -> None:
    """Collections this small search their shards in the calling thread; forced onto the pool
    (what large ones do), every mode answers the same."""
    import retrieval.collection.opening as opening

    monkeypatch.setattr(opening, "PARALLEL_MIN_CHUNKS", 0)
    monkeypatch.setattr(opening.os, "cpu_count", lambda: 3)
    one, sequential = dense_builds[None], dense_builds[7]
    threaded = Engine.open(sequential.path)
    assert threaded.planner._pool is not None and sequential.planner._pool is None
    for query in scifact_queries[:50]:
        for mode in ("bm25", "dense", "hybrid", "prefilter"):
            for filters in (None, {"part": ["1"]}):
                got = threaded.retrieve(query, 20, mode, filters=filters)
                expected = one.retrieve(query, 20, mode, filters=filters)
                assert np.array_equal(got[0], expected[0]), (mode, filters, query)
