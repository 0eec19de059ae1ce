"""Incremental updates: upsert, delete and compact, checked against fresh builds of the same data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.bundle import update_lock
from retrieval.errors import CorpusError, UpdateConflictError
from retrieval.search.modes import mode_names
from retrieval.types import Document

TOPICS = ["sockets", "threads", "json parsing", "file reading", "regular expressions", "dates", "sorting lists",
          "random numbers", "http requests", "unit tests", "logging", "paths", "decorators", "generators"]
QUERIES = ["how to parse json", "reading files line by line", "http requests with logging", "sorting random numbers",
           "python generators and decorators", "unit tests for sockets"]
MODES = mode_names()


def corpus(n: int = 36) -> list[Document]:
    rng = np.random.default_rng(3)
    docs = []
    for i in range(n):
        a, b = rng.choice(TOPICS, size=2, replace=False)
        body = f"Document {i} explains {a}. It also covers {b} in some depth. " * (1 + i % 4)
        docs.append(Document(id=f"d{i}", title=f"Topic {a}", text=body.strip(), metadata={"group": f"g{i % 3}"}))
    return docs


CONFIG = IndexConfig.from_dict({"dense": True, "sentences": False, "vector": {"kind": "flat"}})


def ranking(engine: Engine, query: str, mode: str) -> dict[str, float]:
    """Every chunk the mode returns for ``query`` (k = all chunks), as chunk id text -> score."""
    k = max(1, engine.counts["chunks"])
    return {h.id: h.score for h in engine.search(query, k=k, mode=mode).hits}


def assert_same_rankings(updated: Engine, fresh: Engine, modes=MODES, rtol: float = 1e-12, atol: float = 0.0) -> None:
    for mode in modes:
        for query in QUERIES:
            got, want = ranking(updated, query, mode), ranking(fresh, query, mode)
            assert set(got) == set(want), (mode, query, set(got) ^ set(want))
            ids = sorted(want)
            np.testing.assert_allclose([got[i] for i in ids], [want[i] for i in ids], rtol=rtol, atol=atol,
                                       err_msg=f"{mode} {query!r}")


def live_documents(engine_docs: dict[str, Document]) -> list[Document]:
    return list(engine_docs.values())


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    """One loaded embedder shared by the module's builds (loading it is the slow part)."""
    from retrieval.dense_index import make_embedder

    return make_embedder(CONFIG.embedding)


def build(docs, path, embedder=None, config=CONFIG) -> Engine:
    from unittest import mock

    from retrieval import dense_index

    if embedder is None:
        return Engine.build(docs, path, config)
    with mock.patch.object(dense_index, "make_embedder", return_value=embedder):
        return Engine.build(docs, path, config)


def test_update_finds_new_text_and_delete_removes_it_from_every_mode(tmp_path, embedder):
    docs = corpus()
    engine = build(docs, tmp_path / "b", embedder)
    old_ids = {h.chunk for h in engine.search("zzz", k=5).hits}  # nothing yet
    assert not old_ids
    before = [h.chunk for h in engine.search("Document 5 explains", k=200).hits if h.doc_id == "d5"]
    assert before

    report = engine.upsert([Document(id="d5", title="Zebras", text="Zebra stripes confuse biting flies in the savanna.")])
    assert (report.replaced, report.added, report.committed, report.version) == (1, 0, True, 2)
    assert report.chunks_removed == len(before) and report.chunks_added == 1
    for mode in MODES:
        hits = engine.search("zebra stripes and flies", k=3, mode=mode).hits
        assert hits[0].doc_id == "d5" and "Zebra" in hits[0].text, mode
        every = engine.search("Document 5 explains", k=engine.counts["chunks"], mode=mode).hits
        assert not {h.chunk for h in every} & set(before), mode  # the old chunks are tombstones
        assert all("Document 5 explains" not in h.text for h in every), mode

    report = engine.delete(["d5", "no-such-doc"])
    assert (report.deleted, report.missing) == (1, ["no-such-doc"])
    for mode in MODES:
        every = engine.search("zebra stripes and flies", k=engine.counts["chunks"], mode=mode).hits
        assert all(h.doc_id != "d5" for h in every), mode
    assert engine.counts["documents"] == len(docs) - 1

    reopened = Engine.open(tmp_path / "b")  # checks every file's sha256 in the new version
    assert reopened.manifest.version == 3 and reopened.counts == engine.counts


@pytest.mark.parametrize("exclude_max", [1024, 0], ids=["over-ask", "live-ids"])
def test_updated_bundle_scores_like_a_fresh_build_of_the_live_documents(tmp_path, embedder, monkeypatch, exclude_max):
    # Both ways of dropping deleted chunks: asking each ranking for more, and restricting to live ids.
    monkeypatch.setattr("retrieval.bundle.view.EXCLUDE_MAX", exclude_max)
    docs = {d.id: d for d in corpus()}
    engine = build(list(docs.values()), tmp_path / "b", embedder)
    changed = [Document(id=f"d{i}", title="Revised", text=f"Revised text {i} about json parsing and sockets.",
                        metadata={"group": "g9"}) for i in (1, 4, 9)]
    added = [Document(id=f"new{i}", title="Brand new", text=f"New document {i} on generators, decorators and dates.")
             for i in range(3)]
    engine.upsert(changed + added)
    engine.delete(["d2", "d7", "new1"])
    engine.upsert([Document(id="d4", title="Again", text="Rewritten once more: logging paths and http requests.")])
    assert (engine.view().excluded is None) == (exclude_max == 0) and engine.view().live is not None
    for doc in changed + added:
        docs[doc.id] = doc
    docs["d4"] = Document(id="d4", title="Again", text="Rewritten once more: logging paths and http requests.")
    for gone in ("d2", "d7", "new1"):
        del docs[gone]
    # A fresh build numbers chunks differently; chunk id text ("doc#ordinal") and scores must agree.
    fresh = build(list(docs.values()), tmp_path / "fresh", embedder)
    assert engine.counts["documents"] == fresh.counts["documents"]
    assert engine.counts["chunks"] == fresh.counts["chunks"]
    assert engine.counts["terms"] == fresh.counts["terms"] and engine.counts["postings"] == fresh.counts["postings"]
    assert_same_rankings(engine, fresh, modes=("bm25",), rtol=1e-12)  # same live statistics: same doubles
    # Vectors of re-embedded chunks can differ in the last bits (different batch composition).
    assert_same_rankings(engine, fresh, modes=("dense", "hybrid", "prefilter"), rtol=0, atol=1e-5)

    report = engine.compact()
    assert report.committed and report.chunks_removed > 0
    assert engine.manifest.delta is None and engine.manifest.base.startswith("gen-")
    # Compaction keeps chunk-id order (surviving base chunks, then added ones): build the same order.
    order = list(dict.fromkeys(engine.store.all_doc_ids().to_pylist()))
    fresh2 = build([docs[d] for d in order], tmp_path / "fresh2", embedder)
    for query in QUERIES:
        got, want = engine.search(query, k=50), fresh2.search(query, k=50)
        assert [(h.chunk, h.id, h.score) for h in got.hits] == [(h.chunk, h.id, h.score) for h in want.hits]
    assert_same_rankings(engine, fresh2, modes=("dense", "hybrid", "prefilter"), rtol=0, atol=1e-5)
    reopened = Engine.open(tmp_path / "b")
    assert reopened.counts == fresh2.counts
    assert sorted(p.name for p in (tmp_path / "b").iterdir() if p.name.startswith("delta-")) != []  # previous kept
    engine.upsert([Document(id="x", title="", text="one more after compaction")])  # previous version's files go
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert not any(n.startswith("delta-2") or n.startswith("delta-3") for n in names), names


def test_unchanged_upsert_commits_nothing_and_force_rewrites_with_equal_scores(tmp_path, embedder):
    docs = corpus(20)
    engine = build(docs, tmp_path / "b", embedder)
    before = {q: ranking(engine, q, "bm25") for q in QUERIES}
    report = engine.upsert(docs[:5])
    assert (report.unchanged, report.committed, report.version) == (5, False, 1)
    report = engine.upsert(docs[:5], force=True)
    assert (report.replaced, report.committed) == (5, True)
    for query in QUERIES:
        after = ranking(engine, query, "bm25")
        assert set(after) == set(before[query])
        np.testing.assert_allclose([after[i] for i in sorted(after)], [before[query][i] for i in sorted(after)], rtol=1e-12)


def test_metadata_filters_follow_updates(tmp_path, embedder):
    docs = corpus(12)
    engine = build(docs, tmp_path / "b", embedder)
    assert {h.doc_id for h in engine.search("Document", k=50, filters={"group": "g0"}).hits} == {"d0", "d3", "d6", "d9"}
    engine.upsert([Document(id="d3", title="t", text="Document three moved group.", metadata={"group": "g1"}),
                   Document(id="n1", title="t", text="Document new in group zero.", metadata={"group": "g0"})])
    engine.delete(["d6"])
    for mode in MODES:
        got = {h.doc_id for h in engine.search("Document", k=50, mode=mode, filters={"group": "g0"}).hits}
        assert got == {"d0", "d9", "n1"}, mode
        assert "d3" in {h.doc_id for h in engine.search("Document three", k=50, mode=mode, filters={"group": "g1"}).hits}


def test_added_chunks_have_sentences_for_the_compressor(tmp_path, embedder):
    config = IndexConfig.from_dict({"dense": True, "sentences": True, "vector": {"kind": "flat"}})
    engine = build(corpus(8), tmp_path / "b", embedder, config)
    engine.upsert([Document(id="s", title="Owls", text="Owls hunt at night. They fly silently. Their hearing is sharp.")])
    hit = engine.search("owls fly silently", k=1, mode="dense").hits[0]
    assert hit.doc_id == "s"
    rows, owner = engine.sentences.rows([hit.chunk])
    spans = np.asarray(engine.sentences.spans[rows])
    assert [hit.text[s:e] for s, e in spans] == ["Owls hunt at night.", "They fly silently.", "Their hearing is sharp."]
    vectors = np.asarray(engine.sentences.vectors[rows], dtype=np.float32)
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-2)
    engine.compact()
    rows, _ = engine.sentences.rows([engine.search("owls fly silently", k=1, mode="dense").hits[0].chunk])
    assert len(rows) == 3


def test_bad_input_is_refused_before_anything_is_written(tmp_path):
    engine = Engine.build(corpus(6), tmp_path / "b", IndexConfig(dense=False))
    manifest = (tmp_path / "b" / "manifest.json").read_text()
    with pytest.raises(CorpusError, match="duplicate document id"):
        engine.upsert([Document(id="a", text="x"), Document(id="a", text="y")])
    with pytest.raises(CorpusError, match="Document objects"):
        engine.upsert([{"id": "a", "text": "x"}])  # type: ignore[list-item]
    with pytest.raises(CorpusError, match="not one string"):
        engine.delete("d1")  # type: ignore[arg-type]
    assert (tmp_path / "b" / "manifest.json").read_text() == manifest
    with update_lock(tmp_path / "b"):
        with pytest.raises(UpdateConflictError, match="another update"):
            engine.delete(["d1"])
    assert engine.delete(["d1"]).deleted == 1


def test_keyword_only_bundle_updates_and_compacts(tmp_path):
    docs = {d.id: d for d in corpus(15)}
    engine = Engine.build(list(docs.values()), tmp_path / "b", IndexConfig(dense=False))
    engine.upsert([Document(id="d0", text="entirely new words: quokka wombat")])
    engine.delete(["d1"])
    assert engine.search("quokka", k=3).hits[0].doc_id == "d0"
    docs["d0"] = Document(id="d0", text="entirely new words: quokka wombat")
    del docs["d1"]
    engine.compact()
    order = list(dict.fromkeys(engine.store.all_doc_ids().to_pylist()))
    fresh = Engine.build([docs[d] for d in order], tmp_path / "fresh", IndexConfig(dense=False))
    for query in QUERIES + ["quokka"]:
        assert engine.search(query, k=20).hits == fresh.search(query, k=20).hits
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["counts"] == fresh.counts


def test_a_bundle_whose_every_document_was_deleted_compacts_and_takes_new_ones(tmp_path):
    engine = Engine.build([Document(f"d{i}", f"text about topic {i}") for i in range(5)], tmp_path / "b",
                          IndexConfig(dense=False))
    engine.delete([f"d{i}" for i in range(5)])
    engine.compact()
    assert engine.counts["chunks"] == 0 and not engine.search("topic", k=5).hits
    engine.upsert([Document("n", "a new topic")])
    assert [h.doc_id for h in engine.search("topic", k=5).hits] == ["n"]
