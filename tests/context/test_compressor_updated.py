"""The compressor on an updated bundle: sentences of added chunks come from the delta's sentence
index, stacked after the base's, and the fast path still equals the reference."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import Engine
from retrieval.context import ContextCompressor
from retrieval.context.reference import compress_reference
from retrieval.types import Document

from .conftest import DOCS, QUERIES
from .test_compressor import _full_tokens, _hits


@pytest.fixture(scope="module")
def updated_engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("context-updated")
    engine = Engine.build(DOCS[:5], root / "bundle")  # cpu, dup, ram, disk, gpu
    engine.upsert([*DOCS[5:], Document("ram", "Memory chips are volatile. Their contents vanish without power. "
                                              "ECC memory corrects single-bit errors.", "Memory (revised)")])
    engine.delete(["dup"])
    assert engine.manifest.delta.chunks > 0 and engine.manifest.delta.tombstones > 0
    return engine


def test_fast_compressor_equals_the_reference_over_base_and_added_chunks(updated_engine: Engine, embedder_tokens):
    engine, tokenizer = updated_engine, embedder_tokens
    compressor = ContextCompressor.for_engine(engine, tokenizer)
    bm25, dense = engine.bm25, engine.planner.dense
    split = engine.manifest.delta.base_chunks
    seen_added = seen_base = 0
    for query in QUERIES + ["is memory volatile without power"]:
        hits = _hits(engine, query, 8)
        seen_added += sum(h.chunk >= split for h in hits)
        seen_base += sum(h.chunk < split for h in hits)
        vector = dense.embedder.embed_query(query)
        full = _full_tokens(tokenizer, hits)
        for budget in sorted({5, full // 4, full // 2, full}):
            out = compressor.compress(query, hits, budget, vector)
            want = compress_reference(
                query, hits, budget, tokenizer=tokenizer, analyzer=bm25.analyzer, vocabulary=bm25.vocabulary,
                idf=np.asarray(bm25.index.arrays()["idf"]), sentences=engine.sentences, query_vector=vector,
                config=compressor.config, chunk_vectors=dense.vectors,
            )
            assert (out.sources, out.text, out.tokens) == want, (query, budget)
            assert out.tokens <= budget
    assert seen_added and seen_base  # both sides of the stacked index were exercised
    ram = [h for h in engine.search("is memory volatile without power", k=3, mode="hybrid").hits if h.doc_id == "ram"]
    assert ram and "ECC" in ram[0].text and ram[0].chunk >= split
