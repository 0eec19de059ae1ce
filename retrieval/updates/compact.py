"""Compaction: rewrite an updated bundle's live chunks as a new base, without tombstones.

Nothing is re-embedded: the live chunks' stored vectors and sentence vectors are gathered in
chunk-id order and the vector index is rebuilt from them, and BM25 is rebuilt by re-analyzing the
live chunks' text in that order, which numbers terms exactly as a fresh build over the same
documents does. The new base goes to a fresh ``gen-<version>-*`` directory and becomes current
with one manifest commit, so a crash at any point leaves the previous version intact.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .. import bundle
from ..config import IndexConfig
from ..bundle.documents import BaseDocumentsWriter, base_documents, read_delta_documents
from ..bundle.layout import DOCUMENTS_FILE, METADATA_FILE
from ..bundle.manifest import Manifest, StoreSection, dump
from ..bundle.opening import base_dir, open_parts
from .retire import drop_retired, retired_by
from .updater import UpdateReport, _embedder_of
from ..bundle import layout

FETCH_BATCH = 4096  # chunks read from the store per round trip while rewriting


def compact_bundle(root: str | Path, *, engine: Any = None, embedder: Any = None, store_dsn: str | None = None) -> UpdateReport:
    """Rewrite the bundle at ``root`` without tombstones as a new version (no-op without a delta)."""
    started = time.perf_counter()
    root = Path(root)
    with bundle.update_lock(root):
        manifest = bundle.read_manifest(root, verify=False)
        report = UpdateReport(version=manifest.version)
        if manifest.delta is None:
            report.seconds = time.perf_counter() - started
            return report
        config = manifest.index_config
        dsn = store_dsn or getattr(engine, "_store_dsn", None)
        parts = open_parts(root, manifest, config, embedder=_embedder_of(engine, embedder), store_dsn=dsn)
        try:
            version = manifest.version + 1
            tmp = bundle.new_version_dir(root, "gen", version)
            try:
                info, chunks_removed = _write_base(root, manifest, config, parts, tmp)
                final = bundle.seal_version_dir(tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            new_store = StoreSection(**info["store"]) if info.get("store") else None
            committed = bundle.next_version(
                manifest,
                bundle.file_entries(root, final),
                **info,
                version=version,
                base=final.name,
                delta=None,
                compacted=bundle.utc_now(),
                retired_stores=retired_by(manifest, new_store),  # rows deleted after the next commit
            )
            bundle.commit_version(root, committed)
            drop_retired(manifest, committed, getattr(parts.store, "dsn", None) or dsn)
        finally:
            parts.store.close()
    report.version = version
    report.committed = True
    report.chunks_removed = chunks_removed
    report.seconds = time.perf_counter() - started
    return report


def _write_base(root: Path, manifest: Manifest, config: IndexConfig, parts: Any, out: Path) -> tuple[dict[str, Any], int]:
    from ..bundle.writer import BaseWriter
    from ..search.filters import MetadataWriter
    from ..stores import make_chunk_writer

    total = len(parts.store)
    live = parts.live if parts.live is not None else np.arange(total, dtype=np.int64)
    section = manifest.store or StoreSection()
    dsn = getattr(parts.store, "dsn", None)
    writer, store_section = make_chunk_writer(
        out, dsn if not section.parquet else None, schema=section.schema or "retrieval", bundle=uuid.uuid4().hex
    )
    dense = parts.dense
    sentences = parts.sentences if dense is not None else None
    # The live chunks, their stored vectors and sentence rows, in chunk-id order: nothing re-embedded.
    base = BaseWriter(
        out,
        config,
        analyzer=parts.bm25.analyzer,
        bm25_config=parts.bm25.config,
        chunk_writer=writer,
        store_section=store_section,
        embedder=dense.embedder.embedder if dense is not None else None,
        sentences=sentences is not None,
        sentences_from=dump(manifest.sentences) if sentences is not None else None,
    )
    first_chunk: dict[str, int] = {}
    try:
        for start in range(0, len(live), FETCH_BATCH):
            ids = live[start : start + FETCH_BATCH]
            vectors = np.asarray(dense.vectors[ids], dtype=np.float32) if dense is not None else None
            rows = _SentenceRows(sentences, ids) if sentences is not None else None
            for i, chunk in enumerate(parts.store.get(ids)):
                new_id = base.add(chunk, None if vectors is None else vectors[i], None if rows is None else rows.of(i))
                first_chunk.setdefault(chunk.doc_id, new_id)
        written = base.finish()
    except BaseException:
        base.abort()
        raise
    n_chunks = written.chunks

    docs = base_documents(base_dir(root, manifest), _base_doc_ids(parts, manifest))
    if manifest.delta:
        docs.update(read_delta_documents(root / manifest.delta.dir / layout.DOCUMENTS_FILE))
    live_docs = {d: s for d, s in docs.items() if not s.deleted}
    # Documents in their new chunk order (documents without chunks last, as they have no place).
    ordered = sorted(live_docs, key=lambda d: first_chunk.get(d, n_chunks))
    hashes = BaseDocumentsWriter(out / DOCUMENTS_FILE)
    for doc_id in ordered:
        hashes.add(doc_id, live_docs[doc_id].content_hash)
    hashes.close()

    metadata_section = None
    if manifest.metadata:
        table = parts.metadata.table()  # the live version's rows (base + delta)
        writer_md = MetadataWriter(out / METADATA_FILE)
        rows: dict[str, dict[str, Any]] = {}
        for doc_id, key, value in zip(*(table.column(c).to_pylist() for c in ("doc_id", "key", "value"))):
            if doc_id in live_docs:
                rows.setdefault(doc_id, {})[key] = value
        for doc_id in ordered:
            if doc_id in rows:
                writer_md.add(doc_id, rows[doc_id])
        metadata_section = writer_md.close()

    info = {**written.sections, "metadata": metadata_section}
    info["counts"] = {"documents": len(live_docs), **written.sections["counts"]}
    return info, total - n_chunks


def _base_doc_ids(parts: Any, manifest: Manifest) -> Any:
    n_base = manifest.delta.base_chunks if manifest.delta else len(parts.store)
    return parts.store.all_doc_ids().slice(0, n_base)


class _SentenceRows:
    """The sentence rows (spans, fp16 vectors) of a batch of chunks of an opened sentence index."""

    def __init__(self, sentences: Any, chunk_ids: np.ndarray) -> None:
        rows, owner = sentences.rows(chunk_ids)
        counts = np.bincount(owner, minlength=len(chunk_ids)) if len(chunk_ids) else np.zeros(0, dtype=np.int64)
        self._bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
        self._spans = np.asarray(sentences.spans[rows])
        self._vectors = np.asarray(sentences.vectors[rows])

    def of(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the batch's ``i``-th chunk."""
        a, b = self._bounds[i], self._bounds[i + 1]
        return self._spans[a:b], self._vectors[a:b]
