"""BundleView: one frozen version of an opened bundle; the Engine swaps views in one assignment."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from retrieval import Document, Engine, IndexConfig
from retrieval.bundle.view import BundleView

PACKAGE = Path(__file__).resolve().parents[2] / "retrieval"
DOCS = [Document(id=f"d{i}", title=f"T{i}", text=f"Document {i} about ordinary things.") for i in range(6)]


def test_a_view_is_frozen_and_outlives_a_version_switch(tmp_path: Path) -> None:
    engine = Engine.build(DOCS, tmp_path / "b", IndexConfig(dense=False))
    before = engine.view()
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.store = None  # type: ignore[misc]
    engine.upsert([Document(id="q", title="Q", text="A quokka.")])
    after = engine.view()
    assert after is not before and after.version == engine.version != before.version
    assert engine.search("quokka", k=1).hits[0].doc_id == "q"
    assert before.search("quokka", k=1).hits == ()  # the old version, whole, for whoever holds it
    assert len(after.idf) == len(before.idf) + 1  # "quokka" is a new term
    engine.close()


def test_the_view_exposes_what_consumers_need(tmp_path: Path) -> None:
    keyword = Engine.build(DOCS, tmp_path / "kw", IndexConfig(dense=False)).view()
    assert keyword.chunk_vectors is None and keyword.query_embedder is None and keyword.query_cache is None
    assert keyword.vector_search_params == frozenset() and keyword.document_embedder is None
    dense = Engine.build(DOCS, tmp_path / "dense", IndexConfig(dense=True)).view()
    assert dense.chunk_vectors.shape == (len(DOCS), 384)
    assert np.allclose(dense.embed_queries(["ordinary things"])[0], dense.query_embedder.embed_query("ordinary things"))
    assert dense.document_embedder is not None and dense.query_cache is not None
    assert isinstance(dense, BundleView) and dense.modes == ("bm25", "dense", "hybrid", "prefilter", "auto")


def test_nothing_outside_search_reaches_into_the_planner() -> None:
    """Consumers use the view's public API (chunk vectors, embedders, idf), not planner internals."""
    allowed = {PACKAGE / "bundle" / "view.py", PACKAGE / "engine.py"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path in allowed or (PACKAGE / "search") in path.parents:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bplanner\.(dense|keyword)\b", line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
