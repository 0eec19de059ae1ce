"""Streaming builds (issue 13): one writer fans each chunk out to the store, BM25, its vector and its
sentences as it arrives, and a dense build writes what embedding everything at the end wrote.

The reference here is the old build, kept slow on purpose: every chunk text and every sentence
embedded in one call with the same embedder, the indexed-text rule written out again (not imported),
arrays saved with ``np.save``.

Equality, and why: when the corpus fits one window (the small corpus here, far below
``dense_index.WINDOW`` chunks) the streaming build makes the very same embedder calls, so vectors
are compared with ``np.array_equal`` and ``vectors.npy`` byte for byte. With windows shrunk below
the corpus, the streaming build must equal embedding the same windows (``np.array_equal``: a
window's chunks, then that window's sentences); against one call over everything the batch
composition changes float summation, so that comparison is ``allclose`` at 1e-6 (measured: at
most 7.5e-8 for float32 vectors, on 2 cores with the fp32 ONNX model).

These tests build with ``sentence_vectors="separate"`` (each sentence embedded on its own, the
old build's way); the contextual sentence vectors are compared with their own reference below.
"""

from __future__ import annotations

import io
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrieval import Engine, IndexConfig
from retrieval.bundle import layout
from retrieval.bundle.writer import BaseWriter, indexed_text
from retrieval.context import sentence_index
from retrieval.bundle.npy import NpyAppender
from retrieval.context.sentence_index import TITLE_WORDS
from retrieval.ingest import Chunker
from retrieval.search import exact_topk
from retrieval.text import Analyzer, TokenCounter, split_sentences
from retrieval.types import Chunk, Document
from retrieval.bundle.documents import BaseDocumentsWriter

TOPICS = ["sockets", "threads", "json parsing", "file reading", "regular expressions", "dates", "sorting lists",
          "random numbers", "http requests", "unit tests", "logging", "paths", "decorators", "generators"]
QUERIES = ["how to parse json", "reading files line by line", "http requests with logging", "sorting random numbers"]
CONFIG = IndexConfig.from_dict({"dense": True, "sentences": True, "vector": {"kind": "flat"}, "chunker": {"max_tokens": 48},
                                "sentence_vectors": "separate"})


def documents(n: int = 24) -> list[Document]:
    rng = np.random.default_rng(13)
    docs = []
    for i in range(n):
        a, b = rng.choice(TOPICS, size=2, replace=False)
        body = " ".join(f"Part {j} of document {i} explains {a}. It also covers {b} in some depth." for j in range(1 + i % 5))
        docs.append(Document(id=f"d{i}", title=f"Notes on {a} and {b}" if i % 4 else "", text=body))
    return docs


def reference(docs: list[Document], config: IndexConfig, embedder, window: int | None = None):
    """The old build's chunk vectors and sentence arrays: all texts kept, embedded at the end
    (in one call, or a window of chunks at a time: its chunks, then its chunks' sentences)."""
    chunks = list(Chunker(config.chunker, TokenCounter()).chunk_many(docs))
    titled = config.chunker.include_title
    texts = [f"{c.title}\n{c.text}" if titled else c.text for c in chunks]
    offsets, spans, sentence_texts = [0], [], []
    for c in chunks:
        words = (c.title if titled else "").split()[:TITLE_WORDS]
        prefix = " ".join(words) + "\n" if words else ""
        for s, e in split_sentences(c.text):
            spans.append((s, e))
            sentence_texts.append(prefix + c.text[s:e])
        offsets.append(len(spans))

    size = window or len(chunks)
    vectors, sentence_vectors = [], []
    for i in range(0, len(chunks), size):
        vectors.append(embedder.embed(texts[i : i + size]))
        sentence_vectors.append(embedder.embed(sentence_texts[offsets[i] : offsets[min(i + size, len(chunks))]]))
    return (
        chunks,
        np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32),
        np.asarray(offsets, dtype=np.int64),
        np.asarray(spans, dtype=np.int32),
        np.concatenate(sentence_vectors).astype(np.float16),
    )


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def sentence_arrays(bundle: Path):
    directory = bundle / layout.SENTENCES_DIR
    return tuple(np.load(directory / name) for name in layout.SENTENCE_FILES)


@pytest.fixture(scope="module")
def embedder():
    from retrieval.dense_index import make_embedder

    return make_embedder(CONFIG.embedding)


def build(docs, path, embedder, config=CONFIG) -> Engine:
    from unittest import mock

    from retrieval import dense_index

    with mock.patch.object(dense_index, "make_embedder", return_value=embedder):
        return Engine.build(docs, path, config)


@pytest.fixture(scope="module")
def default_build(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("streaming") / "b"
    return build(documents(), path, embedder), path


def test_a_dense_build_writes_what_embedding_everything_at_the_end_gave(default_build, embedder):
    engine, path = default_build
    chunks, vectors, offsets, spans, sentence_vectors = reference(documents(), CONFIG, embedder)
    assert len(chunks) == engine.counts["chunks"] == 41  # several chunks a document, one window
    assert [c.text for c in engine.store.get(range(len(chunks)))] == [c.text for c in chunks]
    # One window: the same embedder call as before, so the same bits and the same file.
    assert (path / layout.VECTORS_FILE).read_bytes() == npy_bytes(vectors)
    got_offsets, got_spans, got_vectors = sentence_arrays(path)
    assert np.array_equal(got_offsets, offsets) and np.array_equal(got_spans, spans)
    assert got_vectors.dtype == np.float16 and np.array_equal(got_vectors, sentence_vectors)
    assert (path / layout.SENTENCES_DIR / layout.SENTENCE_VECTORS_FILE).read_bytes() == npy_bytes(sentence_vectors)
    # Search answers as an exact search over the reference vectors does.
    side = engine.planner.dense
    for query in QUERIES:
        q = side.embedder.embed_query(query)
        want_ids, want_scores = exact_topk(vectors, np.arange(len(vectors)), q, 10)
        ids, scores, _ = engine.retrieve(query, 10, "dense")
        assert ids.tolist() == want_ids.tolist(), query
        assert np.allclose(scores, want_scores, atol=1e-6)
    stages = engine.manifest.build_stages_s
    assert {"read_chunk_analyze_s", "embed_s", "sentences_s", "vector_index_s", "bm25_s"} <= set(stages)


def test_windows_smaller_than_the_corpus_embed_the_old_windows(tmp_path, monkeypatch, embedder, default_build):
    from retrieval import dense_index

    window = 5  # 41 chunks: many windows and a partial last one
    monkeypatch.setattr(dense_index, "WINDOW", window)
    calls: list[int] = []
    real_embed = embedder.embed

    def counting_embed(texts):
        calls.append(len(texts))
        return real_embed(texts)

    monkeypatch.setattr(embedder, "embed", counting_embed)
    engine = build(documents(), tmp_path / "b", embedder)
    monkeypatch.setattr(embedder, "embed", real_embed)
    chunks, vectors, offsets, spans, sentence_vectors = reference(documents(), CONFIG, embedder, window)
    # Each window: its chunks in one call, then its chunks' sentences in one call.
    starts = range(0, len(chunks), window)
    assert calls == [n for i in starts for n in (min(window, len(chunks) - i), int(offsets[min(i + window, len(chunks))] - offsets[i]))]
    assert np.array_equal(np.load(tmp_path / "b" / layout.VECTORS_FILE), vectors)
    got_offsets, got_spans, got_vectors = sentence_arrays(tmp_path / "b")
    assert np.array_equal(got_offsets, offsets) and np.array_equal(got_spans, spans)
    assert np.array_equal(got_vectors, sentence_vectors)
    # Against one call over everything: other batches, other float summation order.
    _, all_at_once, *_ = reference(documents(), CONFIG, embedder)
    assert np.allclose(np.load(tmp_path / "b" / layout.VECTORS_FILE), all_at_once, rtol=0, atol=1e-6)
    fresh, _ = default_build
    for query in QUERIES:
        assert engine.retrieve(query, 10, "dense")[0].tolist() == fresh.retrieve(query, 10, "dense")[0].tolist()
        assert engine.retrieve(query, 10, "bm25")[0].tolist() == fresh.retrieve(query, 10, "bm25")[0].tolist()


def test_compaction_copies_vectors_and_sentence_rows_through_the_same_writer(tmp_path, monkeypatch, embedder):
    from retrieval import dense_index
    from retrieval.updates import compact

    engine = build(documents(), tmp_path / "b", embedder)
    engine.delete(["d3", "d10", "d11"])
    engine.upsert([Document(id="d5", title="Owls", text="Owls hunt at night. They fly silently."),
                   Document(id="n1", title="", text="A new document about logging. And paths.")])
    live = engine.live
    old_vectors = np.asarray(engine.planner.dense.vectors[live])
    rows, _ = engine.sentences.rows(live)
    old_spans, old_sentence_vectors = np.asarray(engine.sentences.spans[rows]), np.asarray(engine.sentences.vectors[rows])
    monkeypatch.setattr(compact, "FETCH_BATCH", 4)  # batches of the store, vectors and sentence rows
    monkeypatch.setattr(dense_index, "WINDOW", 3)
    monkeypatch.setattr(sentence_index, "COPY_WINDOW", 5)
    monkeypatch.setattr(embedder, "embed", lambda texts: pytest.fail("compaction embedded something"))
    engine.compact()
    base = tmp_path / "b" / engine.manifest.base
    assert (base / layout.VECTORS_FILE).read_bytes() == npy_bytes(np.ascontiguousarray(old_vectors, dtype=np.float32))
    offsets, spans, vectors = sentence_arrays(base)
    assert len(offsets) == len(live) + 1 and np.array_equal(spans, old_spans)
    assert np.array_equal(vectors, old_sentence_vectors)
    assert engine.counts["chunks"] == len(live)


class FakeEmbedder:
    """Deterministic vectors from a text's crc32 (no model): for driving the writer fast."""

    dim = 8
    fingerprint = "fake"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def describe(self) -> dict:
        return {"model_id": "fake", "dim": self.dim}

    def embed(self, texts) -> np.ndarray:
        self.calls.append(len(texts))
        rows = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts])
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_the_writer_holds_no_text_or_vector_beyond_its_windows(tmp_path, monkeypatch):
    """4000 chunks of ~2 KB (8 MB of text, ~32,000 sentences) through the fan-out: Python memory
    grows by packed integers only. The old build kept every chunk text, every sentence text and
    every vector until the end: more than the 8 MB of text alone.
    Measured here: peak 1.3 MB over the start (a window's texts, packed term ids and spans)."""
    from retrieval import dense_index

    monkeypatch.setattr(dense_index, "WINDOW", 64)
    words = [f"{w}{'x' * 40}" for w in ("Alpha", "Beta", "Gamma", "Delta", "Omega")]  # long words: few tokens
    rng = np.random.default_rng(1)
    embedder = FakeEmbedder()
    writer = BaseWriter(tmp_path, CONFIG, analyzer=Analyzer(CONFIG.analyzer), bm25_config=CONFIG.bm25,
                        embedder=embedder, sentences=True)
    n = 4000
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        total_text = 0
        for i in range(n):
            text = ". ".join(" ".join(rng.choice(words, size=9)) for _ in range(5)) + "."
            total_text += len(text)
            writer.add(Chunk(id=f"c{i}", doc_id=f"c{i}", ordinal=0, text=text, title="T", start=0, end=len(text), n_tokens=9))
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    written = writer.finish()
    assert total_text > 8_000_000
    assert peak < 2_000_000, peak
    assert written.chunks == n and written.sections["dense"]["count"] == n
    assert written.sections["sentences"]["count"] == 5 * n
    # Whole windows (64 chunks, then their 320 sentences), not one text at a time; the last partial.
    assert embedder.calls == [k for size in [64] * (n // 64) + [n % 64] for k in (size, 5 * size)]
    assert np.load(tmp_path / layout.VECTORS_FILE, mmap_mode="r").shape == (n, 8)


def test_indexed_text_is_title_then_text_or_text_alone():
    chunk = Chunk(id="a#0", doc_id="a", ordinal=0, text="Body.", title="Head", start=0, end=5, n_tokens=3)
    assert indexed_text(chunk, True) == "Head\nBody."
    assert indexed_text(chunk, False) == "Body."


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64])
@pytest.mark.parametrize("blocks", [[], [0], [1], [3, 0, 5, 1], [1000]])
def test_npy_appender_writes_np_save_bytes(tmp_path, dtype, blocks):
    rng = np.random.default_rng(len(blocks))
    parts = [rng.standard_normal((n, 3)).astype(dtype) for n in blocks]
    writer = NpyAppender(tmp_path / "a.npy", dtype, (3,))
    for part in parts:
        writer.append(part)
    assert writer.close() == sum(blocks)
    whole = np.concatenate(parts) if parts else np.zeros((0, 3), dtype=dtype)
    assert (tmp_path / "a.npy").read_bytes() == npy_bytes(whole)
    bad = NpyAppender(tmp_path / "b.npy", dtype, (3,))
    with pytest.raises(ValueError, match="rows of shape"):
        bad.append(np.zeros((2, 4)))
    bad.abort()
    assert not (tmp_path / "b.npy").exists()


@pytest.mark.parametrize("n", [0, 1, 5])
def test_documents_parquet_is_written_in_row_groups_as_documents_arrive(tmp_path, n):
    ids, hashes = [f"d{i}" for i in range(n)], [f"h{i}" for i in range(n)]
    # The default row group holds 65,536 documents: a small build writes today's bytes exactly.
    writer = BaseDocumentsWriter(tmp_path / "a.parquet")
    for pair in zip(ids, hashes):
        writer.add(*pair)
    writer.close()
    table = pa.table({"doc_id": pa.array(ids, pa.string()), "content_hash": pa.array(hashes, pa.string())})
    pq.write_table(table, tmp_path / "old.parquet", compression="zstd")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "old.parquet").read_bytes()
    small = BaseDocumentsWriter(tmp_path / "b.parquet", batch_rows=2)
    for pair in zip(ids, hashes):
        small.add(*pair)
    small.close()
    assert pq.ParquetFile(tmp_path / "b.parquet").num_row_groups == max(1, (n + 1) // 2)
    assert pq.read_table(tmp_path / "b.parquet").equals(table)


def test_contextual_sentence_vectors_come_from_the_chunk_pass(tmp_path):
    """The default: each sentence pooled from its chunk's forward pass (``embed_in_context``),
    the chunk vectors unchanged; a sentence the model's window cut off is embedded on its own,
    after its title, as the separate build embeds it."""
    import dataclasses

    from retrieval.dense_index import make_embedder

    config = dataclasses.replace(CONFIG, sentence_vectors="contextual")
    embedder = make_embedder(config.embedding)
    embedder._tokenizer.enable_truncation(max_length=24)  # a short window: some sentences are cut
    calls: list[int] = []
    real_embed = embedder.embed
    embedder.embed = lambda texts: calls.append(len(texts)) or real_embed(texts)
    engine = build(documents(), tmp_path / "b", embedder, config)
    build_calls = list(calls)
    chunks, _, offsets, spans, separate = reference(documents(), config, embedder)
    texts = [indexed_text(c, True) for c in chunks]
    shifts = [len(c.title) + 1 for c in chunks]
    want_vectors, pooled, whole = embedder.embed_in_context(texts, [spans[offsets[i]:offsets[i + 1]] for i in range(len(chunks))], shifts)
    assert 0 < int((~whole).sum()) < len(whole)  # both kinds present
    got_offsets, got_spans, got_vectors = sentence_arrays(tmp_path / "b")
    assert np.array_equal(got_offsets, offsets) and np.array_equal(got_spans, spans)
    assert np.array_equal(np.load(tmp_path / "b" / layout.VECTORS_FILE), want_vectors)
    assert np.array_equal(got_vectors[whole], pooled[whole].astype(np.float16))
    assert np.array_equal(got_vectors[~whole], separate[~whole])  # the cut ones: embedded on their own
    assert build_calls == [int((~whole).sum())]  # one model pass over chunks, one over the cut sentences only
    assert engine.manifest.sentences.vectors == "contextual"
    norms = np.linalg.norm(got_vectors.astype(np.float32), axis=1)
    assert np.allclose(norms, 1.0, atol=2e-3)
