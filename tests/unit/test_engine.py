import asyncio
from pathlib import Path

import numpy as np
import pytest

from retrieval import Document, Engine, Hit, IndexConfig
from retrieval.errors import BundleError, CorpusError, QueryError


KEYWORD_ONLY = IndexConfig.from_dict({"dense": False})


@pytest.fixture()
def engine(small_corpus: Path, tmp_path: Path) -> Engine:
    return Engine.build(small_corpus, tmp_path / "bundle", KEYWORD_ONLY)


def test_build_counts_and_search_returns_typed_hits(engine: Engine):
    assert engine.counts["documents"] == 5
    assert engine.counts["chunks"] == 4  # the empty document has nothing to index
    result = engine.search("how to parse a json string", k=3)
    assert result.hits and all(isinstance(h, Hit) for h in result.hits)
    assert result.hits[0].doc_id == "json"
    assert result.hits[0].id == "json#0"
    assert "json.loads" in result.hits[0].text
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    assert set(result.timings.as_dict()) == {"analyze", "bm25", "fetch"}


def test_reopened_bundle_gives_identical_results(engine: Engine):
    again = Engine.open(engine.path)
    for query in ["read a file line by line", "regular expression", "python library", "zzz qqq"]:
        assert engine.search(query, k=4).hits == again.search(query, k=4).hits
    assert again.search("zzz qqq").hits == ()


def test_async_twin_matches(engine: Engine):
    async def both():
        return await asyncio.gather(engine.asearch("json module"), engine.asearch("open file"))

    a, b = asyncio.run(both())
    assert a.hits == engine.search("json module").hits
    assert b.hits == engine.search("open file").hits


@pytest.mark.parametrize("k", [0, -1, 10_001, "3", True, 2.5])
def test_bad_k_is_a_query_error(engine: Engine, k):
    with pytest.raises(QueryError, match="k must be an integer"):
        engine.search("json", k=k)


def test_bad_mode_and_unavailable_mode(engine: Engine):
    with pytest.raises(QueryError, match="unknown mode 'fuzzy'"):
        engine.search("json", mode="fuzzy")
    with pytest.raises(QueryError, match="needs a dense index"):
        engine.search("json", mode="dense")
    with pytest.raises(QueryError, match="must be a string"):
        engine.search(b"json")  # type: ignore[arg-type]


def test_duplicate_ids_and_empty_corpora_fail_without_leaving_a_bundle(tmp_path: Path):
    docs = [Document("a", "some text"), Document("a", "other text")]
    with pytest.raises(CorpusError, match="duplicate document id 'a'"):
        Engine.build(docs, tmp_path / "dup", KEYWORD_ONLY)
    with pytest.raises(CorpusError, match="no documents with text"):
        Engine.build([Document("x", "")], tmp_path / "empty", KEYWORD_ONLY)
    assert list(tmp_path.iterdir()) == []


def test_existing_bundle_needs_overwrite(engine: Engine, small_corpus: Path):
    with pytest.raises(BundleError, match="already exists"):
        Engine.build(small_corpus, engine.path, KEYWORD_ONLY)
    Engine.build(small_corpus, engine.path, KEYWORD_ONLY, overwrite=True)


def test_document_ranking_is_the_best_chunk_per_document(tmp_path: Path):
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(60)]
    docs = [
        Document(f"d{i}", ". ".join(" ".join(rng.choice(words, 12)).capitalize() for _ in range(int(rng.integers(1, 12)))) + ".")
        for i in range(80)
    ]
    config = IndexConfig.from_dict({"chunker": {"max_tokens": 24}, "dense": False})
    engine = Engine.build(docs, tmp_path / "b", config)
    assert engine.counts["chunks"] > 2 * engine.counts["documents"]  # really multi-chunk
    doc_of_chunk = engine.store.all_doc_ids().to_pylist()
    for query in ["w1 w2 w3", "w10 w50", "w7"]:
        scores = engine.bm25.index.scores(engine.bm25.query_ids(query))
        best: dict[str, float] = {}
        for chunk, score in enumerate(scores):
            if score != 0:
                best[doc_of_chunk[chunk]] = max(best.get(doc_of_chunk[chunk], -np.inf), score)
        expected = sorted(best.items(), key=lambda kv: (-kv[1], doc_of_chunk.index(kv[0])))[:10]
        ranked, _ = engine.search_documents(query, k=10)
        assert [d for d, _ in ranked] == [d for d, _ in expected]
        assert np.allclose([s for _, s in ranked], [s for _, s in expected], rtol=0, atol=0)


def test_opening_a_corrupt_bundle_is_refused(engine: Engine):
    npy = sorted((engine.path / "bm25").glob("*.npy"))[0]
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF
    npy.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        Engine.open(engine.path)


def test_search_batch_equals_one_at_a_time(engine: Engine):
    queries = ["json module", "read a file", "zzz qqq", "regular expression matching", "python"]
    for n_threads in (1, 2):
        batch = engine.search_batch(queries, k=3, n_threads=n_threads)
        assert [r.hits for r in batch] == [engine.search(q, k=3).hits for q in queries]
    assert engine.search_batch([], k=3) == []
    with pytest.raises(QueryError, match="k must be"):
        engine.search_batch(["json"], k=0)
