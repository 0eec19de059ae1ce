"""One writer for a base's per-chunk files, used by a build and by compaction.

Chunks arrive one at a time, in chunk-id order, and fan out to everything a base holds per chunk:

    chunk store     the chunk itself (``chunks.parquet``, or rows in PostgreSQL)
    bm25/           the chunk's indexed text, analyzed (``indexed_text``)
    vectors.npy     its embedding: computed a window of chunks at a time (a build), or the
    vectors.faiss   existing vector passed in (compaction: nothing is re-embedded)
    sentences/      its sentence spans and fp16 vectors: embedded with the chunk's window
                    (``context.chunk_vectors``: from the chunk's own forward pass, or
                    separately), or the existing rows passed in (compaction)

Memory stays bounded by a window, not the corpus: chunks wait only for their embedding window,
vectors go to disk as each window is done (``VectorWriter``, ``SentenceIndexBuilder``) and the
vector index is built from the memory-mapped file at the end. What is kept until ``finish`` is
packed integers (BM25 term ids, sentence spans) and the vocabulary. The documents' own files
(``documents.parquet``, ``metadata.parquet``) stay with the callers, which know the documents.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context.chunk_vectors import indexed_text, sentence_title
from .layout import BM25_DIR, SENTENCES_DIR

if TYPE_CHECKING:
    from ..config import BM25Config, IndexConfig
    from ..keyword import BM25
    from ..stores.base import ChunkWriter
    from ..text import Analyzer
    from ..types import Chunk

__all__ = ["BaseWriter", "WrittenBase", "indexed_text", "sentence_title"]


@dataclass
class WrittenBase:
    """What ``BaseWriter.finish`` wrote."""

    chunks: int
    bm25: "BM25"  # the keyword index built (its statistics go into the manifest)
    # Manifest sections: "store", "dense", "sentences" (None when not written), "bm25", and
    # "counts" with the per-chunk counts ("chunks", "terms", "postings"; the caller adds "documents").
    sections: dict[str, Any]
    stages: dict[str, float]  # seconds: "embed_s", "sentences_s", "vector_index_s", "bm25_s"


class BaseWriter:
    """Writes a base's chunk store, BM25 index, vectors and sentence index into ``directory``.

    ``chunk_writer``/``store_section``: where chunks are stored and the manifest section that finds
    them (``retrieval.stores.make_chunk_writer``); the caller aborts the writer on failure.
    ``embedder``: None for a keyword-only base. ``sentences``: write ``sentences/`` (needs the
    embedder); ``sentences_from``: the section of the index rows are copied from (compaction),
    whose fields the new section keeps.
    """

    def __init__(
        self,
        directory: Path,
        config: "IndexConfig",
        *,
        analyzer: "Analyzer",
        bm25_config: "BM25Config",
        chunk_writer: "ChunkWriter | None" = None,
        store_section: dict[str, Any] | None = None,
        embedder: Any = None,
        sentences: bool = False,
        sentences_from: dict[str, Any] | None = None,
    ) -> None:
        from ..keyword import BM25Builder

        self.directory = Path(directory)
        self.config = config
        self._include_title = config.chunker.include_title
        self._chunks = chunk_writer
        self._store_section = store_section
        self._bm25 = BM25Builder(analyzer, bm25_config)
        self._vectors: Any = None
        self._sentences: Any = None
        self._sentences_from = sentences_from
        self._embedder = embedder
        self._pending: list["Chunk"] = []  # chunks waiting for their embedding window
        self._seconds = {"embed_s": 0.0, "sentences_s": 0.0}
        self.count = 0
        if embedder is not None:
            from ..dense_index import WINDOW, VectorWriter

            self._window = WINDOW
            self._vectors = VectorWriter(self.directory, embedder)
            if sentences:
                from ..context.sentence_index import SentenceIndexBuilder

                self._sentences = SentenceIndexBuilder(self.directory / SENTENCES_DIR, embedder)
        elif sentences:
            raise ValueError("a sentence index needs the embedder")

    @property
    def terms(self) -> int:
        """Distinct terms analyzed so far."""
        return len(self._bm25.vocabulary)

    @property
    def stages(self) -> dict[str, float]:
        """Seconds spent so far embedding chunks (with contextual sentences, their joint pass) and
        sentences (embedded on their own, and written) while chunks were added."""
        stages = {}
        if self._vectors is not None:
            stages["embed_s"] = self._seconds["embed_s"]
        if self._sentences is not None:
            stages["sentences_s"] = self._seconds["sentences_s"] + self._sentences.seconds
        return stages

    def add(self, chunk: "Chunk", vector: Any = None, sentences: tuple[Any, Any] | None = None) -> int:
        """Write the next chunk; return its id (0, 1, 2, ... in the order added).

        ``vector``: the chunk's existing embedding (else it is embedded with its window).
        ``sentences``: its existing sentence rows, ``(spans [n, 2], vectors [n, dim])`` (else its
        sentences are split and embedded).
        """
        chunk_id = self._chunks.add(chunk) if self._chunks is not None else self.count
        self._bm25.add(indexed_text(chunk, self._include_title))
        if self._vectors is not None:
            if vector is None:
                self._pending.append(chunk)
                if len(self._pending) >= self._window:
                    self._embed_pending()
            else:
                self._embed_pending()  # rows stay in chunk order
                self._vectors.add_vector(vector)
                if self._sentences is not None:
                    if sentences is None:
                        raise ValueError("a chunk given with its vector needs its sentence rows too")
                    self._sentences.copy(*sentences, title=sentence_title(chunk, self._include_title))
        self.count += 1
        return chunk_id

    def _embed_pending(self) -> None:
        """Embed the waiting chunks (and their sentences) and write their rows."""
        if not self._pending:
            return
        from ..context.chunk_vectors import embed_window

        chunks, self._pending = self._pending, []
        window = embed_window(self._embedder, chunks, self._include_title, self._sentences is not None, self.config.sentence_vectors)
        for stage, seconds in window.seconds.items():
            self._seconds[stage] += seconds
        self._vectors.add_vectors(window.vectors)
        if self._sentences is not None:
            spans = [s for s, _ in window.sentences]
            offsets = np.concatenate([[0], np.cumsum([len(s) for s in spans])])
            # The builder records whether sentences came after a title: any one of the window's.
            title = next((t for t in (sentence_title(c, self._include_title) for c in chunks) if t.strip()), "")
            self._sentences.copy(np.concatenate(spans), np.concatenate([v for _, v in window.sentences]), offsets, title=title)

    def finish(self) -> WrittenBase:
        """Close the chunk store, finish the vectors (and their index), the sentence index and BM25.

        BM25 is built last: its native build and the vector index's are the two peaks, and each
        is released before the next (the BM25 index lives on for the manifest's statistics).
        """
        n_chunks = self._chunks.close() if self._chunks is not None else self.count
        sections: dict[str, Any] = {"store": self._store_section, "dense": None, "sentences": None}
        if self._vectors is not None:
            self._embed_pending()
        stages = self.stages
        if self._vectors is not None:
            sections["dense"] = self._vectors.close(self.config.vector)
            stages["vector_index_s"] = self._vectors.index_seconds
            self._vectors = None
        if self._sentences is not None:
            from ..context.chunk_vectors import sentence_mode

            section = {**self._sentences.close(), "vectors": sentence_mode(self._embedder, self.config.sentence_vectors)}
            stages["sentences_s"] = self._seconds["sentences_s"] + self._sentences.seconds
            if self._sentences_from is not None:
                section = {**self._sentences_from, "dir": section["dir"], "chunks": section["chunks"], "count": section["count"]}
            sections["sentences"] = section
            self._sentences = None
        t0 = time.perf_counter()
        bm25 = self._bm25.build()
        bm25.save(self.directory / BM25_DIR)
        stages["bm25_s"] = time.perf_counter() - t0
        sections["bm25"] = {**asdict(bm25.config), "avgdl": float(bm25.index.avgdl)}  # the parameters it was built with
        sections["counts"] = {
            "chunks": n_chunks,
            "terms": len(bm25.vocabulary),
            "postings": int(bm25.index.total_postings),
        }
        return WrittenBase(chunks=n_chunks, bm25=bm25, sections=sections, stages=stages)

    def abort(self) -> None:
        """Close the vector and sentence files written so far (the caller discards the directory
        and aborts its chunk writer)."""
        self._pending = []
        for part in (self._vectors, self._sentences):
            if part is not None:
                part.abort()
        self._vectors = self._sentences = None
