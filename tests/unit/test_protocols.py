"""The typed interfaces hold for every implementation: keyword indexes (native, segmented) and
document sources (PostgreSQL). Chunk stores have their own contract (tests/stores)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import Document, Engine, IndexConfig
from retrieval.ingest.corpus import DocumentSource, describe, sync_section
from retrieval.keyword import KeywordIndex
from tests.conftest import SMALL_CORPUS

DOCS = [Document(id=d["_id"], title=d.get("title", ""), text=d["text"]) for d in SMALL_CORPUS]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """The native index of a fresh build, and the segmented index of the same corpus after an update."""
    root = tmp_path_factory.mktemp("protocols")
    fresh = Engine.build(DOCS, root / "fresh", IndexConfig(dense=False))
    updated = Engine.build(DOCS[:-1], root / "updated", IndexConfig(dense=False))
    updated.upsert(DOCS[-1:])
    yield {"native": fresh.bm25.index, "segmented": updated.bm25.index}, fresh
    fresh.close()
    updated.close()


@pytest.mark.parametrize("kind", ["native", "segmented"])
def test_both_keyword_indexes_are_keyword_indexes(indexes, kind):
    found, fresh = indexes
    index = found[kind]
    assert isinstance(index, KeywordIndex), type(index)
    assert type(found["native"]).__name__ == "BM25Index" and type(found["segmented"]).__name__ == "SegmentedIndex"
    terms = fresh.bm25.query_ids("json module parse")
    reference = found["native"]
    # Same corpus, same scores: the protocol's methods agree across implementations.
    assert index.n_docs == reference.n_docs and index.total_postings == reference.total_postings
    assert index.avgdl == pytest.approx(reference.avgdl)
    assert index.df(int(terms[0])) == reference.df(int(terms[0]))
    ids, scores = index.topk(terms, 3)
    want_ids, want_scores = reference.topk(terms, 3)
    assert ids.tolist() == want_ids.tolist() and scores == pytest.approx(want_scores)
    assert np.array_equal(index.matching(terms), reference.matching(terms))
    assert np.asarray(index.scores(terms)) == pytest.approx(np.asarray(reference.scores(terms)))
    offsets = np.array([0, len(terms)], dtype=np.uint64)
    batch_ids, _, counts = index.topk_batch(offsets, terms, 3)
    assert batch_ids[0, : counts[0]].tolist() == want_ids.tolist()
    assert "idf" in index.arrays()


def test_a_postgres_corpus_is_a_document_source_and_a_list_is_not():
    from retrieval.ingest.postgres_reader import PostgresCorpus

    corpus = PostgresCorpus("postgresql://reader:secret@127.0.0.1:1/db", "SELECT id, text FROM t")
    assert isinstance(corpus, DocumentSource)
    assert describe(corpus).startswith("postgresql://reader:***@127.0.0.1:1/db") and "secret" not in describe(corpus)
    assert sync_section(corpus)["sql"] == "SELECT id, text FROM t"
    assert not isinstance(DOCS, DocumentSource)
    assert describe(DOCS) == "<documents>" and sync_section(DOCS) is None
    assert describe("corpus.jsonl") == "corpus.jsonl"
