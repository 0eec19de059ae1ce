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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import bundle
from ..config import IndexConfig
from .documents import BaseDocumentsWriter, base_documents, read_delta_documents
from ..bundle.layout import BM25_DIR, DOCUMENTS_FILE, METADATA_FILE
from ..bundle.opening import base_dir, open_version
from .retire import RETIRED, drop_retired, retired_by
from .updater import UpdateReport, _embedder_of, version_of
from ..bundle import layout

FETCH_BATCH = 4096  # chunks read from the store per round trip while rewriting


def compact(root: str | Path, *, engine: Any = None, embedder: Any = None, store_dsn: str | None = None) -> UpdateReport:
    """Rewrite the bundle at ``root`` without tombstones as a new version (no-op without a delta)."""
    started = time.perf_counter()
    root = Path(root)
    with bundle.update_lock(root):
        manifest = bundle.read_manifest(root, verify=False)
        report = UpdateReport(version=version_of(manifest))
        if not manifest.get("delta"):
            report.seconds = time.perf_counter() - started
            return report
        config = IndexConfig.from_dict(manifest.get("config", {}))
        dsn = store_dsn or getattr(engine, "_store_dsn", None)
        parts = open_version(root, manifest, config, embedder=_embedder_of(engine, embedder), store_dsn=dsn)
        try:
            version = version_of(manifest) + 1
            tmp = bundle.new_version_dir(root, "gen", version)
            try:
                info, chunks_removed = _write_base(root, manifest, config, parts, tmp)
                final = bundle.seal_version_dir(tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            new = {k: v for k, v in manifest.items() if k not in (*bundle.WRITER_KEYS, "delta")}
            new.update(info)
            new.update({"version": version, "base": final.name, "compacted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            new[RETIRED] = retired_by(manifest, new.get("store"))  # rows deleted after the next commit
            committed = bundle.new_manifest(new, bundle.file_entries(root, final))
            committed["created"] = manifest.get("created", committed["created"])
            bundle.commit_version(root, committed)
            drop_retired(manifest, committed, getattr(parts.store, "dsn", None) or dsn)
        finally:
            if hasattr(parts.store, "close"):
                parts.store.close()
    report.version = version
    report.committed = True
    report.chunks_removed = chunks_removed
    report.seconds = time.perf_counter() - started
    return report


def _write_base(root: Path, manifest: dict[str, Any], config: IndexConfig, parts: Any, out: Path) -> tuple[dict[str, Any], int]:
    from ..keyword import BM25Builder
    from ..search.filters import MetadataWriter
    from ..stores import make_chunk_writer

    total = len(parts.store)
    live = parts.live if parts.live is not None else np.arange(total, dtype=np.int64)
    section = manifest.get("store") or {}
    dsn = getattr(parts.store, "dsn", None)
    writer, store_section = make_chunk_writer(
        out, dsn if section.get("kind") == "postgres" else None, schema=section.get("schema", "retrieval"), bundle=uuid.uuid4().hex
    )
    builder = BM25Builder(parts.bm25.analyzer, parts.bm25.config)
    include_title = config.chunker.include_title
    first_chunk: dict[str, int] = {}
    for start in range(0, len(live), FETCH_BATCH):
        for chunk in parts.store.get(live[start : start + FETCH_BATCH]):
            new_id = writer.add(chunk)
            first_chunk.setdefault(chunk.doc_id, new_id)
            builder.add(f"{chunk.title}\n{chunk.text}" if include_title else chunk.text)
    n_chunks = writer.close()
    bm25 = builder.build()
    bm25.save(out / BM25_DIR)

    docs = base_documents(base_dir(root, manifest), _base_doc_ids(parts, manifest))
    if manifest.get("delta"):
        docs.update(read_delta_documents(root / manifest["delta"]["dir"] / layout.DOCUMENTS_FILE))
    live_docs = {d: s for d, s in docs.items() if not s.deleted}
    # Documents in their new chunk order (documents without chunks last, as they have no place).
    ordered = sorted(live_docs, key=lambda d: first_chunk.get(d, n_chunks))
    hashes = BaseDocumentsWriter(out / DOCUMENTS_FILE)
    for doc_id in ordered:
        hashes.add(doc_id, live_docs[doc_id].content_hash)
    hashes.close()

    metadata_section = None
    if manifest.get("metadata"):
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

    dense_section = None
    sentences_section = None
    if parts.dense is not None:
        from ..dense_index import build_dense

        vectors = np.ascontiguousarray(parts.dense.vectors[live], dtype=np.float32)
        dense_section = build_dense(out, vectors, parts.dense.embedder.embedder, config.vector)
        if parts.sentences is not None:
            sentences_section = _write_sentences(out, manifest["sentences"], parts.sentences, live)
    info = {
        "store": store_section,
        "dense": dense_section,
        "sentences": sentences_section,
        "metadata": metadata_section,
        "bm25": {**asdict(config.bm25), "avgdl": float(bm25.index.avgdl)},
        "counts": {
            "documents": len(live_docs),
            "chunks": n_chunks,
            "terms": len(bm25.vocabulary),
            "postings": int(bm25.index.total_postings),
        },
    }
    return info, total - n_chunks


def _base_doc_ids(parts: Any, manifest: dict[str, Any]) -> Any:
    n_base = int(manifest["delta"]["base_chunks"]) if manifest.get("delta") else len(parts.store)
    return parts.store.all_doc_ids().slice(0, n_base)


def _write_sentences(out: Path, base_section: dict[str, Any], sentences: Any, live: np.ndarray) -> dict[str, Any]:
    from ..context import sentence_index as si

    rows, owner = sentences.rows(live)
    counts = np.bincount(owner, minlength=len(live)) if len(live) else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    directory = out / si.SENTENCES_DIR
    directory.mkdir()
    si.write_arrays(directory, offsets, sentences.spans[rows], sentences.vectors[rows])
    return {**base_section, "dir": si.SENTENCES_DIR, "chunks": len(live), "count": int(len(rows))}


