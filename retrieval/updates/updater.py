"""Upsert and delete documents in a bundle as a new version (see ``retrieval.bundle.delta``).

One update, under the bundle's lock:
  1. open the current version and its delta state (the previous delta's arrays, or empty);
  2. decide per document: unchanged (same content hash: skipped), added, replaced or deleted;
  3. tombstone the chunks of replaced and deleted documents, taking their terms out of the live
     BM25 statistics; chunk, analyze and embed the new documents' chunks, adding their terms;
  4. write the new cumulative delta into a fresh directory (FAISS gets the new vectors with
     ``add_with_ids``; the BM25 delta segment is rebuilt from the stored term ids of every added
     chunk), fsync it, and commit a manifest naming it (one ``os.replace``).
Nothing the current version uses is modified in place, so a crash anywhere leaves it intact.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .. import bundle
from ..config import IndexConfig
from ..errors import CorpusError
from ..types import Chunk, Document
from ..bundle import layout
from ..bundle.delta import load_array
from ..bundle.manifest import BM25Stats, Counts, DeltaSection, Manifest, SentencesSection, dump
from ..bundle.opening import VersionParts, base_dir, open_parts
from ..bundle.documents import DocState, base_documents, read_delta_documents, write_delta_documents
from .retire import drop_retired


@dataclass
class UpdateReport:
    """What one update did. ``version`` is the bundle version after it (unchanged if nothing was)."""

    version: int
    committed: bool = False
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    deleted: int = 0
    missing: list[str] = field(default_factory=list)  # delete ids the bundle did not have
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    stages_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def update_bundle(
    root: str | Path,
    *,
    upserts: Iterable[Document] = (),
    deletes: Iterable[str] = (),
    force: bool = False,
    keep_only: set[str] | None = None,
    engine: Any = None,
    embedder: Any = None,
    manifest_extra: dict[str, Any] | None = None,
    store_dsn: str | None = None,
) -> UpdateReport:
    """Apply ``deletes`` then ``upserts`` to the bundle at ``root`` as one new version
    (``retrieval.updates.dispatch.apply_update`` sends a collection's documents to their shards here).

    ``keep_only``: also delete every live document whose id is not in this set (a sync's view
    of which documents still exist at the source).

    ``engine``/``embedder``: an already loaded embedder to reuse. ``store_dsn``: the DSN of a
    bundle whose chunks are in PostgreSQL (default: the engine's, ``$RETRIEVAL_STORE_DSN``, the manifest's). ``manifest_extra``: sections to
    record in the new manifest (``retrieval sync`` stores its watermark this way); with nothing
    else changed, a new version is committed only when they differ from the current ones.
    """
    started = time.perf_counter()
    root = Path(root)
    docs = _checked_documents(upserts)
    delete_ids = _checked_ids(deletes)
    with bundle.update_lock(root):
        manifest = bundle.read_manifest(root, verify=False)
        dsn = store_dsn or getattr(engine, "_store_dsn", None)
        update = _Update(root, manifest, manifest.index_config, _embedder_of(engine, embedder), dsn)
        try:
            report = UpdateReport(version=manifest.version)
            if keep_only is not None:
                delete_ids += [d for d, st in update.docs.items() if not st.deleted and d not in keep_only]
            update.delete(list(dict.fromkeys(delete_ids)), report)
            update.upsert(docs, force, report)
            extra = manifest_extra or {}
            if update.changed or any(dump(getattr(manifest, k)) != v for k, v in extra.items()):
                report.version = update.commit(extra).version
                report.committed = True
                report.stages_s = {k: round(v, 4) for k, v in update.stages.items()}
        finally:
            update.close()
    report.seconds = time.perf_counter() - started
    return report


def _embedder_of(engine: Any, embedder: Any) -> Any:
    if embedder is not None or engine is None:
        return embedder
    return engine.view().document_embedder


def _checked_documents(docs: Iterable[Document]) -> list[Document]:
    out, seen = [], set()
    for doc in docs:
        if not isinstance(doc, Document):
            raise CorpusError(f"upsert takes retrieval.Document objects, got {type(doc).__name__}")
        if not isinstance(doc.id, str) or not doc.id:
            raise CorpusError(f"a document id must be a non-empty string, got {doc.id!r}")
        if not isinstance(doc.text, str) or not isinstance(doc.title, str):
            raise CorpusError(f"document {doc.id!r}: title and text must be strings")
        if doc.id in seen:
            raise CorpusError(f"duplicate document id {doc.id!r} in one update")
        seen.add(doc.id)
        out.append(doc)
    return out


def _checked_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str):
        raise CorpusError("delete takes a list of document ids, not one string")
    out = []
    for doc_id in ids:
        if not isinstance(doc_id, str) or not doc_id:
            raise CorpusError(f"a document id must be a non-empty string, got {doc_id!r}")
        out.append(doc_id)
    return list(dict.fromkeys(out))


class _Update:
    """The current version's state, the changes accumulated on it, and writing the new delta."""

    def __init__(
        self, root: Path, manifest: Manifest, config: IndexConfig, embedder: Any, store_dsn: str | None = None
    ) -> None:
        self.root = root
        self.manifest = manifest
        self.config = config
        self.stages: dict[str, float] = {}
        t0 = time.perf_counter()
        self.store_dsn = store_dsn
        self.parts: VersionParts = open_parts(root, manifest, config, embedder=embedder, store_dsn=store_dsn)
        self.embedder = self.parts.dense.embedder.embedder if self.parts.dense is not None else None
        self.base = base_dir(root, manifest)
        self.n_base = manifest.base_chunks
        self.section = manifest.delta
        self.delta_dir = root / self.section.dir if self.section else None
        self.postgres = not manifest.parquet_store
        self._load_state()
        self.changed = False
        self.new_chunks: list[Chunk] = []
        self.new_tokens: list[np.ndarray] = []
        self.new_metadata: dict[str, dict[str, Any]] = {}
        self.stages["open"] = time.perf_counter() - t0

    # -- the current state ----------------------------------------------------------------

    def _load_state(self) -> None:
        bm25 = self.parts.bm25
        self.vocabulary = bm25.vocabulary  # global; new terms are added to it in place
        self.base_vocab = int(bm25.index.base_vocab) if self.section else len(self.vocabulary)
        self.docs = base_documents(self.base, self._base_doc_ids())
        if self.section is None:
            arrays = bm25.index.arrays()
            self.df = np.array(arrays["df"], dtype=np.int64)
            self.live_docs = int(bm25.index.n_docs)
            self.live_tokens = int(bm25.index.total_tokens)
            self.tombstones = np.empty(0, dtype=np.int64)
            self.token_offsets = np.zeros(1, dtype=np.uint64)
            self.tokens = np.empty(0, dtype=np.uint32)
            self.touched: dict[str, DocState] = {}
        else:
            d = self.delta_dir
            assert d is not None
            self.df = np.array(load_array(d / layout.DF_FILE, mmap=False), dtype=np.int64)
            self.live_docs, self.live_tokens = self.section.live_docs, self.section.live_tokens
            self.tombstones = np.array(load_array(d / layout.TOMBSTONES_FILE, mmap=False), dtype=np.int64)
            self.token_offsets = np.array(load_array(d / layout.TOKEN_OFFSETS_FILE, mmap=False), dtype=np.uint64)
            self.tokens = np.array(load_array(d / layout.TOKENS_FILE, mmap=False), dtype=np.uint32)
            self.touched = read_delta_documents(d / layout.DOCUMENTS_FILE)
            self.docs.update(self.touched)
        self.n_total = self.n_base + (self.section.chunks if self.section else 0)
        self.dead: list[np.ndarray] = []

    def _base_doc_ids(self) -> Any:
        store = self.parts.store
        all_ids = store.all_doc_ids()
        return all_ids.slice(0, self.n_base) if len(all_ids) != self.n_base else all_ids

    # -- changes --------------------------------------------------------------------------

    def delete(self, doc_ids: list[str], report: UpdateReport) -> None:
        for doc_id in doc_ids:
            state = self.docs.get(doc_id)
            if state is None or state.deleted:
                report.missing.append(doc_id)
                continue
            report.chunks_removed += self._tombstone(state)
            self._set(doc_id, DocState(state.content_hash, -1, 0, deleted=True))
            report.deleted += 1

    def upsert(self, docs: list[Document], force: bool, report: UpdateReport) -> None:
        from ..ingest import Chunker
        from ..ingest.content_hash import document_hash
        from ..text import TokenCounter

        if not docs:
            return
        t0 = time.perf_counter()
        chunker = Chunker(self.config.chunker, TokenCounter())
        for doc in docs:
            content_hash = document_hash(doc)
            state = self.docs.get(doc.id)
            live = state is not None and not state.deleted
            if live and not force and state.content_hash == content_hash:
                report.unchanged += 1
                continue
            if live:
                report.chunks_removed += self._tombstone(state)
                report.replaced += 1
            else:
                report.added += 1
            chunks = chunker.chunk(doc)
            first = self.n_total + len(self.new_chunks)
            self.new_chunks.extend(chunks)
            self._set(doc.id, DocState(content_hash, first if chunks else -1, len(chunks)))
            self.new_metadata[doc.id] = dict(doc.metadata)
            report.chunks_added += len(chunks)
        self.stages["chunk"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for chunk in self.new_chunks[len(self.new_tokens) :]:
            ids = np.asarray(self.vocabulary.add(self.parts.bm25.analyzer(self._indexed_text(chunk))), dtype=np.int64)
            self._count_in(ids)
            self.new_tokens.append(ids.astype(np.uint32))
        self.stages["analyze"] = time.perf_counter() - t0

    def _set(self, doc_id: str, state: DocState) -> None:
        self.docs[doc_id] = state
        self.touched[doc_id] = state
        self.changed = True
        if state.deleted:
            self.new_metadata.pop(doc_id, None)

    def _tombstone(self, state: DocState) -> int:
        """Mark a document's chunks dead and take their terms out of the live statistics."""
        ids = state.chunk_ids()
        if not ids.size:
            return 0
        for terms in self._terms_of(ids):
            self._count_in(terms, sign=-1)
        self.dead.append(ids)
        return int(ids.size)

    def _terms_of(self, ids: np.ndarray) -> list[np.ndarray]:
        """BM25 term ids of existing chunks: stored for added ones, re-analyzed for base ones."""
        out: list[np.ndarray] = []
        pending = ids.tolist()
        base_ids = [i for i in pending if i < self.n_base]
        if base_ids:
            analyzer, vocab = self.parts.bm25.analyzer, self.vocabulary
            for chunk in self.parts.store.get(base_ids):
                out.append(np.asarray(vocab.add(analyzer(self._indexed_text(chunk))), dtype=np.int64))
        for i in pending:
            if i < self.n_base:
                continue
            if i < self.n_total:  # added by an earlier update
                row = i - self.n_base
                out.append(self.tokens[int(self.token_offsets[row]) : int(self.token_offsets[row + 1])].astype(np.int64))
            else:  # added by this update (a document upserted twice in one call is refused earlier)
                out.append(self.new_tokens[i - self.n_total].astype(np.int64))
        return out

    def _count_in(self, terms: np.ndarray, sign: int = 1) -> None:
        if len(self.df) < len(self.vocabulary):
            self.df = np.concatenate([self.df, np.zeros(len(self.vocabulary) - len(self.df), dtype=np.int64)])
        unique = np.unique(terms)
        self.df[unique] += sign
        self.live_docs += sign
        self.live_tokens += sign * int(len(terms))

    def _indexed_text(self, chunk: Chunk) -> str:
        from ..bundle.writer import indexed_text  # the rule a build and a compaction use

        return indexed_text(chunk, self.config.chunker.include_title)

    # -- writing the new version ----------------------------------------------------------

    def commit(self, extra: dict[str, Any]) -> Manifest:
        version = self.manifest.version + 1
        tmp = bundle.new_version_dir(self.root, "delta", version)
        try:
            section = self._write_delta(tmp)
            final = bundle.seal_version_dir(tmp)
        except BaseException:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
            raise
        manifest = self._new_manifest(version, dataclasses.replace(section, dir=final.name), final, extra)
        t0 = time.perf_counter()
        bundle.commit_version(self.root, manifest)
        self.stages["commit"] = time.perf_counter() - t0
        drop_retired(self.manifest, manifest, self.store_dsn)
        return manifest

    def close(self) -> None:
        self.parts.store.close()

    def _write_delta(self, out: Path) -> DeltaSection:
        n_new = len(self.new_chunks)
        n_delta = (self.n_total - self.n_base) + n_new
        t0 = time.perf_counter()
        self._write_chunks(out)
        dead = np.concatenate([self.tombstones, *self.dead]) if self.dead else self.tombstones
        tombstones = np.unique(dead).astype(np.int64)
        np.save(out / layout.TOMBSTONES_FILE, tombstones, allow_pickle=False)
        write_delta_documents(out / layout.DOCUMENTS_FILE, self.touched)
        self._write_metadata(out)
        self.stages["write_chunks"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        tokens, offsets = self._all_delta_tokens()
        np.save(out / layout.TOKENS_FILE, tokens, allow_pickle=False)
        np.save(out / layout.TOKEN_OFFSETS_FILE, offsets, allow_pickle=False)
        terms = self.vocabulary.terms()[self.base_vocab :]
        (out / layout.NEW_TERMS_FILE).write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
        if self.df.min(initial=0) < 0 or self.live_docs < 0 or self.live_tokens < 0:
            raise RuntimeError("internal error: live BM25 statistics went negative")  # a bug, never input
        np.save(out / layout.DF_FILE, self.df.astype(np.uint32), allow_pickle=False)
        if n_delta:
            self._write_bm25(out / layout.BM25_DIR, tokens, offsets)
        self.stages["bm25"] = time.perf_counter() - t0

        sentences = None
        if self.parts.dense is not None:
            t0 = time.perf_counter()
            new_vectors = self._embed_new()
            self.stages["embed"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            self._write_vectors(out, new_vectors)
            self.stages["vector_index"] = time.perf_counter() - t0
            if self.parts.sentences is not None:
                t0 = time.perf_counter()
                sentences = self._write_sentences(out / layout.SENTENCES_DIR)
                self.stages["sentences"] = time.perf_counter() - t0
        return DeltaSection(
            dir="",
            base_chunks=self.n_base,
            chunks=n_delta,
            tombstones=len(tombstones),
            bm25_stats=BM25Stats(n_docs=self.live_docs, total_tokens=self.live_tokens),
            vocab=len(self.vocabulary),
            sentences=SentencesSection(**sentences) if sentences is not None else None,
        )

    def _write_chunks(self, out: Path) -> None:
        if self.postgres:
            if self.new_chunks:
                self.parts.store.put_chunks(self.n_total, self.new_chunks)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..stores import ParquetChunkWriter

        writer = ParquetChunkWriter(out / layout.CHUNKS_FILE)
        try:
            if self.delta_dir is not None:
                for batch in pq.ParquetFile(self.delta_dir / layout.CHUNKS_FILE).iter_batches():
                    for row in pa.Table.from_batches([batch]).to_pylist():
                        writer.add(Chunk(**row))
            for chunk in self.new_chunks:
                writer.add(chunk)
        finally:
            writer.close()

    def _write_metadata(self, out: Path) -> None:
        from ..search.filters import MetadataWriter

        writer = MetadataWriter(out / layout.METADATA_FILE)
        if self.delta_dir is not None and (self.delta_dir / layout.METADATA_FILE).is_file():
            import pyarrow.parquet as pq

            previous = pq.read_table(self.delta_dir / layout.METADATA_FILE).to_pylist()
            keep = {d for d, s in self.touched.items() if not s.deleted and d not in self.new_metadata}
            grouped: dict[str, dict[str, Any]] = {}
            for row in previous:
                if row["doc_id"] in keep:
                    grouped.setdefault(row["doc_id"], {})[row["key"]] = row["value"]  # already value text
            for doc_id, values in grouped.items():
                writer.add(doc_id, values)
        for doc_id, values in self.new_metadata.items():
            if values:
                writer.add(doc_id, values)
        writer.close()

    def _all_delta_tokens(self) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([len(t) for t in self.new_tokens], dtype=np.uint64)
        offsets = np.concatenate([self.token_offsets, self.token_offsets[-1] + np.cumsum(lengths, dtype=np.uint64)])
        tokens = np.concatenate([self.tokens, *self.new_tokens]).astype(np.uint32) if self.new_tokens else self.tokens
        return tokens, offsets.astype(np.uint64)

    def _write_bm25(self, directory: Path, tokens: np.ndarray, offsets: np.ndarray) -> None:
        from ..keyword.bm25 import save_index_arrays
        from ..native import BM25Index

        cfg = self.parts.bm25.config
        index = BM25Index.build(
            offsets, tokens, len(self.vocabulary), variant=cfg.variant, k1=cfg.k1, b=cfg.b, epsilon=cfg.epsilon
        )
        save_index_arrays(index, directory)

    def _embed_new(self) -> np.ndarray:
        """The new chunks' vectors; their sentences' rows wait in ``_new_sentences``. Embedded as a
        build embeds them, sentences made the way the bundle's were (its manifest says)."""
        from ..context.chunk_vectors import embed_window
        from ..dense_index import WINDOW

        dim = int(self.parts.dense.vectors.shape[1])
        self._new_sentences: list[tuple[np.ndarray, np.ndarray]] = []
        parts = [np.zeros((0, dim), dtype=np.float32)]
        for start in range(0, len(self.new_chunks), WINDOW):
            window = embed_window(self.embedder, self.new_chunks[start : start + WINDOW], self.config.chunker.include_title,
                                  self.parts.sentences is not None, self._sentence_vectors)
            parts.append(window.vectors)
            self._new_sentences.extend(window.sentences or [])
        return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)

    @property
    def _sentence_vectors(self) -> str:
        """How this bundle's sentence vectors were made ("separate" before it was recorded)."""
        return self.manifest.sentences.vectors if self.manifest.sentences is not None else "separate"

    def _write_vectors(self, out: Path, new_vectors: np.ndarray) -> None:
        from ..bundle.npy import NpyAppender
        from ..dense_index import WINDOW

        index = self.parts.dense.index  # opened privately for this update: safe to extend
        if len(new_vectors):
            index.add(new_vectors, np.arange(self.n_total, self.n_total + len(new_vectors), dtype=np.int64))
        index.save(out / layout.INDEX_FILE)
        # The previous delta's rows, then the new ones, without holding both in memory.
        vectors = NpyAppender(out / layout.VECTORS_FILE, np.float32, (new_vectors.shape[1],))
        if self.delta_dir is not None:
            vectors.extend(np.load(self.delta_dir / layout.VECTORS_FILE, mmap_mode="r", allow_pickle=False), WINDOW)
        vectors.append(new_vectors)
        vectors.close()

    def _write_sentences(self, directory: Path) -> dict[str, Any]:
        from ..bundle.writer import sentence_title
        from ..context import sentence_index as si

        # The previous delta's rows, then the new chunks' sentences (``_embed_new``).
        builder = si.SentenceIndexBuilder(directory, self.embedder)
        try:
            if self.section is not None and self.section.sentences:
                old = si.SentenceIndex.open(self.delta_dir, dump(self.section.sentences), self.section.chunks)
                builder.copy(old.spans, old.vectors, old.offsets)
                del old
            titled = self.config.chunker.include_title
            for chunk, (spans, vectors) in zip(self.new_chunks, self._new_sentences):
                builder.copy(spans, vectors, title=sentence_title(chunk, titled))
            return {**builder.close(), "vectors": self._sentence_vectors}
        except BaseException:
            builder.abort()
            raise

    def _new_manifest(self, version: int, section: DeltaSection, delta: Path, extra: dict[str, Any]) -> Manifest:
        old = self.manifest
        old_delta = self.section.dir if self.section else None
        files = {rel: entry for rel, entry in old.files.items() if old_delta is None or not rel.startswith(old_delta + "/")}
        files.update(bundle.file_entries(self.root, delta))
        counts = Counts(
            documents=sum(1 for s in self.docs.values() if not s.deleted),
            chunks=self.n_total + len(self.new_chunks) - section.tombstones,
            terms=int(np.count_nonzero(self.df)),
            postings=int(self.df.sum()),  # one per (term, live chunk) pair
        )
        dense = old.dense and dataclasses.replace(old.dense, count=self.n_total + len(self.new_chunks))
        return bundle.next_version(
            old,
            files,
            **extra,
            version=version,
            updated=bundle.utc_now(),
            retired_stores=[],  # the previous version's retired keys are deleted right after this commit
            delta=section,
            counts=counts,
            dense=dense,
        )
