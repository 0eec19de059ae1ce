"""BM25 on real data: exact agreement with rank-bm25, and SciFact quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine
from retrieval.bench.bm25_peers import document_texts, topk_by_score
from retrieval.bench.quality import evaluate
from retrieval.config import AnalyzerConfig, BM25Config
from retrieval.ingest import read_qrels, read_queries
from retrieval.keyword import BM25Builder
from retrieval.text import Analyzer


@pytest.fixture(scope="module")
def scifact_tokens(scifact_dir: Path):
    analyzer = Analyzer(AnalyzerConfig())
    return analyzer, analyzer.analyze_many(document_texts(scifact_dir))


@pytest.mark.slow
def test_okapi_matches_rank_bm25_on_all_scifact_queries(scifact_dir: Path, scifact_tokens):
    from rank_bm25 import BM25Okapi

    analyzer, doc_tokens = scifact_tokens
    builder = BM25Builder(analyzer, BM25Config(variant="okapi"))
    for tokens in doc_tokens:
        builder.add_terms(tokens)
    ours = builder.build()
    reference = BM25Okapi(doc_tokens)
    queries = [text for _, text in read_queries(scifact_dir / "queries.jsonl")]
    assert len(queries) == 300
    worst = 0.0
    for query in queries:
        terms = analyzer(query)
        theirs = reference.get_scores(terms)
        mine = ours.index.scores(ours.vocabulary.lookup(terms))
        nonzero = theirs != 0
        worst = max(worst, float(np.max(np.abs(mine - theirs)[nonzero] / np.abs(theirs[nonzero]), initial=0.0)))
        matching = np.flatnonzero([any(t in f for t in terms) for f in reference.doc_freqs])
        ids, scores = ours.search(query, 10)
        assert ids.tolist() == topk_by_score(theirs, matching, 10), query
        assert np.allclose(scores, theirs[ids], rtol=1e-5, atol=0)
    assert worst <= 1e-5  # measured: 0.0 (bit-identical)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["okapi", "lucene"])
def test_every_top_k_path_is_exact_on_all_scifact_queries(scifact_dir: Path, scifact_tokens, variant: str):
    """The quantized paths (bound cache: bounded exhaustive and MaxScore) against the exact one."""
    analyzer, doc_tokens = scifact_tokens
    builder = BM25Builder(analyzer, BM25Config(variant=variant))
    for tokens in doc_tokens:
        builder.add_terms(tokens)
    exact = builder.build()
    bounds_only = BM25Builder(analyzer, BM25Config(variant=variant))
    for tokens in doc_tokens:
        bounds_only.add_terms(tokens)
    bounded = bounds_only.build()
    bounded.index.cache_limit = 0  # every path reads the quantized bound cache
    exact.index.bound_cache_limit = 0  # and this one never does
    for _, query in read_queries(scifact_dir / "queries.jsonl"):
        terms = exact.query_ids(query)
        for k in (10, 100):
            want_ids, want_scores = exact.index.topk(terms, k, "exhaustive")
            for strategy in ("bounded", "maxscore"):
                ids, scores = bounded.index.topk(terms, k, strategy)
                assert ids.tolist() == want_ids.tolist(), (query, k, strategy)
                assert scores.tolist() == want_scores.tolist(), (query, k, strategy)
    assert bounded.index.bound_cache_bytes > 0 and exact.index.bound_cache_bytes == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides, floor",
    [
        # Default 256-token chunks, document score = best chunk: measured 0.6798, recall@100 0.905.
        ({}, 0.675),
        # Whole abstracts as single chunks: measured 0.6863 (bm25s, same analyzer, whole docs: 0.687).
        ({"chunker.max_tokens": 100_000}, 0.685),
    ],
)
def test_scifact_ndcg_at_10(scifact_dir: Path, tmp_path: Path, overrides, floor):
    from retrieval import IndexConfig

    engine = Engine.build(scifact_dir, tmp_path / "bundle", IndexConfig.from_dict({"dense": False}, overrides))
    assert engine.counts["documents"] == 5183
    result = evaluate(
        engine,
        read_queries(scifact_dir / "queries.jsonl"),
        read_qrels(scifact_dir / "qrels" / "test.tsv"),
        mode="bm25",
        k=100,
    )
    assert result["queries"] == 300
    assert result["ndcg@10"] >= floor
    assert result["recall@100"] >= 0.90
