"""Dense, hybrid and prefilter modes through the engine, on a small real-text corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.bundle.manifest import seal
from retrieval.errors import BundleError, QueryError
from retrieval.search import exact_topk
from retrieval.bundle.manifest import dump
from tests.conftest import SMALL_CORPUS, write_jsonl

EXTRA = [
    {"_id": f"d{i}", "title": f"Topic {i}", "text": f"Document {i} talks about {word} and how to use {word} well."}
    for i, word in enumerate(["sockets", "threads", "json parsing", "file reading", "regular expressions", "dates",
                              "sorting lists", "random numbers", "http requests", "unit tests", "logging", "paths"])
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("dense")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS + EXTRA)
    Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": True}))
    return Engine.open(root / "bundle")


def test_every_mode_answers_and_manifest_records_the_dense_side(engine: Engine):
    assert engine.modes == ("bm25", "dense", "hybrid", "prefilter", "auto")
    dense = dump(engine.manifest.dense)
    assert dense["kind"] == "flat" and dense["count"] == engine.counts["chunks"] and dense["dim"] == 384
    assert dense["embedder"]["variant"] == "fp32" and dense["embedder"]["weights_sha256"]
    for mode in engine.modes:
        result = engine.search("how do I parse json text", k=3, mode=mode)
        assert result.hits, mode
        assert result.hits[0].doc_id in {"json", "d2"}, (mode, result.hits)
    stages = engine.search("parse json", k=3, mode="hybrid").timings.as_dict()
    assert {"analyze", "bm25", "embed", "dense", "fuse", "fetch"} <= set(stages)


def test_dense_matches_exact_search_over_all_vectors(engine: Engine):
    side = engine.planner.dense
    for query in ["reading files line by line", "network sockets", "logging messages"]:
        vector = side.embedder.embed_query(query)
        want_ids, want_scores = exact_topk(side.vectors, np.arange(len(side.vectors)), vector, 5)
        ids, scores, _ = engine.retrieve(query, 5, "dense")
        assert ids.tolist() == want_ids.tolist()
        assert np.allclose(scores, want_scores, atol=1e-5)


def test_prefilter_equals_exact_dense_search_over_the_keyword_candidates(engine: Engine):
    side = engine.planner.dense
    for query in ["json", "files and paths", "how to use threads and sockets"]:
        candidates, _ = engine.bm25.search(query, 1000)
        want, _ = exact_topk(side.vectors, candidates, side.embedder.embed_query(query), 4)
        ids, _, _ = engine.retrieve(query, 4, "prefilter")
        assert ids.tolist() == want.tolist()
        assert len(ids) == min(4, len(candidates))


def test_per_call_parameters(engine: Engine):
    convex = engine.retrieve("json parsing", 5, "hybrid")[0]
    rrf = engine.retrieve("json parsing", 5, "hybrid", {"method": "rrf"})[0]
    dense_only = engine.retrieve("json parsing", 5, "hybrid", {"dense_weight": 1.0})[0]
    assert set(convex) and set(rrf)
    assert dense_only.tolist()[:3] == engine.retrieve("json parsing", 3, "dense")[0].tolist()
    # Prefilter takes max(k, candidates) keyword hits, so k results are always possible.
    one = engine.retrieve("json parsing", 1, "prefilter", {"candidates": 1})[0]
    assert one.tolist() == engine.bm25.search("json parsing", 1)[0].tolist()
    with pytest.raises(QueryError, match="ef_search|unknown|valid"):
        engine.retrieve("json", 3, "dense", {"ef_search": 10})  # flat has no ef_search
    with pytest.raises(QueryError, match="invalid search parameter"):
        engine.retrieve("json", 3, "hybrid", {"method": "max"})


def test_a_different_embedder_is_refused(engine: Engine, tmp_path: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(engine.path, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["dense"]["embedder"]["variant"] = "int8"
    (copy / "manifest.json").write_text(json.dumps(seal(manifest)))  # past the checksum
    with pytest.raises(BundleError, match="built with the embedder .*variant: bundle"):
        Engine.open(copy)


def test_keyword_only_bundle_rejects_dense_modes(tmp_path: Path, small_corpus: Path):
    engine = Engine.build(small_corpus, tmp_path / "kw", IndexConfig.from_dict({"dense": False}))
    assert engine.modes == ("bm25",)
    with pytest.raises(QueryError, match="needs a dense index"):
        engine.search("json", mode="hybrid")
