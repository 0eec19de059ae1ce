"""The manifest's values checked against the files an opened version actually holds.

The manifest's checksum catches an edit made by hand; these checks catch a manifest whose values
contradict its files however it came about (recomputed checksum, a bug in a writer): counts,
dimensions, BM25 parameters, the analyzer, the chunking tokenizer. Each reads what opening has
already loaded, or file metadata (Parquet row counts, a 4-value ``.npy``), never whole files;
only an updated version's document count reads the two ``doc_id`` columns it is made from.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..config import IndexConfig
from ..errors import BundleError, ConfigError
from . import layout
from .delta import load_array
from .layout import BM25_DIR, DOCUMENTS_FILE, METADATA_FILE
from .manifest import Counts, DeltaSection, Manifest, TokenizerSection

BM25_VARIANT_CODES = {0.0: "lucene", 1.0: "okapi"}  # params.npy[0], as the native index stores it


def check_values(root: Path, manifest: Manifest, config: IndexConfig, parts: Any, base: Path) -> None:
    """BundleError naming the first manifest value its version's files contradict, and both values."""
    try:
        _check_values(root, manifest, config, parts, base, manifest.delta)
    except _Contradiction as exc:
        raise BundleError(f"{root / 'manifest.json'}: {exc}: the bundle is inconsistent; rebuild it") from None


class _Contradiction(Exception):
    """A manifest value and what the files hold (``check_values`` names the bundle)."""


def _check_values(
    root: Path, manifest: Manifest, config: IndexConfig, parts: Any, base: Path, section: DeltaSection | None
) -> None:
    counts = manifest.counts
    _check_bm25_parameters(manifest, config, parts.bm25, base)
    if section is None:
        _check_base_counts(manifest, counts, parts, base)
        n_chunks = n_base = counts.chunks
    else:
        _check_delta_counts(counts, parts, base, root / section.dir, section)
        n_chunks, n_base = section.total_chunks, section.base_chunks
    if manifest.metadata:
        _same("metadata.rows", manifest.metadata.rows, f"rows of {METADATA_FILE}", _parquet_rows(base / METADATA_FILE))
    if parts.dense is not None:
        _check_dense(manifest, parts, n_chunks)
    if parts.sentences is not None:
        sentences = manifest.sentences
        _same("sentences.chunks", sentences.chunks if sentences else None, "base chunks", n_base)
        if section is not None:
            delta_chunks = section.sentences.chunks if section.sentences else None
            _same("delta.sentences.chunks", delta_chunks, "delta chunks", section.chunks)
    _check_tokenizer(manifest.tokenizer)


def _check_base_counts(manifest: Manifest, counts: Counts, parts: Any, base: Path) -> None:
    bm25 = parts.bm25
    _same("counts.chunks", counts.chunks, "BM25 documents", bm25.n_docs)
    _same("counts.terms", counts.terms, "BM25 vocabulary", len(bm25.vocabulary))
    _same("counts.postings", counts.postings, "BM25 postings", int(bm25.index.total_postings))
    _same("counts.documents", counts.documents, f"rows of {DOCUMENTS_FILE}", _parquet_rows(base / DOCUMENTS_FILE))
    if not parts.external_stats:  # else it scores with its collection's avgdl
        _close("bm25.avgdl", manifest.bm25.avgdl, "the BM25 index's", float(bm25.index.avgdl))


def _check_delta_counts(counts: Counts, parts: Any, base: Path, delta: Path, section: DeltaSection) -> None:
    live = section.total_chunks - section.tombstones
    _same("counts.chunks", counts.chunks, "live chunks (chunks less tombstones)", live)
    _same("delta.bm25_stats.n_docs", section.live_docs, "live chunks", live)
    _same("delta.base_chunks", section.base_chunks, "base BM25 documents", int(parts.bm25.index.base.n_docs))
    _same("delta.base_chunks + delta.chunks", section.total_chunks, "BM25 documents", parts.bm25.n_docs)
    df = load_array(delta / layout.DF_FILE)  # live document frequency of every term
    _same("counts.terms", counts.terms, "terms with live documents", int(np.count_nonzero(df)))
    _same("counts.postings", counts.postings, "live postings", int(df.sum(dtype=np.uint64)))
    _same("counts.documents", counts.documents, "live documents", _live_documents(base, delta))


def _check_bm25_parameters(manifest: Manifest, config: IndexConfig, bm25: Any, base: Path) -> None:
    """bm25/params.json (what queries score with), the parameters the native index was built
    with (bm25/params.npy), the manifest's ``bm25`` and its config must all agree."""
    used = asdict(bm25.config)
    path = base / BM25_DIR / "params.npy"
    stored = load_array(path)
    if stored.shape != (4,):
        raise BundleError(f"{path} must hold [variant, k1, b, epsilon], got shape {stored.shape}")
    built = {
        "variant": BM25_VARIANT_CODES.get(float(stored[0]), f"code {float(stored[0])}"),
        "k1": float(stored[1]),
        "b": float(stored[2]),
        "epsilon": float(stored[3]),
    }
    recorded = asdict(manifest.bm25)
    for key, value in used.items():
        if value != built.get(key):
            raise _Contradiction(f"{BM25_DIR}/params.json's {key} is {value!r} but the BM25 index was built with {built.get(key)!r}")
        _same(f"bm25.{key}", recorded.get(key), "the BM25 index's", value)
        _same(f"config.bm25.{key}", getattr(config.bm25, key), "the BM25 index's", value)
    recorded_analyzer, used_analyzer = asdict(config.analyzer), asdict(bm25.analyzer.config)
    for key, value in recorded_analyzer.items():
        _same(f"config.analyzer.{key}", value, f"{BM25_DIR}/params.json's", used_analyzer.get(key))


def _check_dense(manifest: Manifest, parts: Any, n_chunks: int) -> None:
    dense = manifest.dense
    if dense is None:
        raise _Contradiction("the manifest has no dense section but the bundle opened a vector index")
    index = parts.dense.index
    _same("dense.count", dense.count, "vectors in the index", int(index.ntotal))
    _same("dense.count", dense.count, "chunks", n_chunks)
    _same("dense.dim", dense.dim, "the vector index's dimension", int(index.dim))
    _same("dense.embedder.dim", dense.embedder.get("dim"), "the vector index's dimension", int(index.dim))
    sentences = manifest.sentences
    if sentences:
        _same("sentences.dim", sentences.dim, "the vector index's dimension", int(index.dim))
        fingerprint = dense.embedder.get("fingerprint")
        _same("sentences.embedder_fingerprint", sentences.embedder_fingerprint, "the dense embedder's", fingerprint)


def _check_tokenizer(section: TokenizerSection | None) -> None:
    """The chunking tokenizer the bundle records must be the one updates here would chunk with."""
    if section is None:
        raise _Contradiction("the manifest has no tokenizer section naming the chunking tokenizer's sha256")
    from ..text.tokens import default_tokenizer_path

    try:
        path = default_tokenizer_path()
    except ConfigError:  # not installed: nothing here would chunk with another tokenizer
        return
    stat = path.stat()
    _same("tokenizer.sha256", section.sha256, f"{path}'s", _sha256_of(str(path), stat.st_size, stat.st_mtime_ns))


@functools.lru_cache(maxsize=4)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a changed file is rehashed
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _live_documents(base: Path, delta: Path) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        base_ids = pq.read_table(base / DOCUMENTS_FILE, columns=["doc_id"]).column("doc_id")
        touched = pq.read_table(delta / layout.DOCUMENTS_FILE, columns=["doc_id", "deleted"])
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise BundleError(f"cannot read the documents tables of {base} and {delta}: {exc}") from None
    ids = touched.column("doc_id").combine_chunks()
    replaced = pc.sum(pc.is_in(base_ids, value_set=ids)).as_py() or 0
    deleted = pc.sum(touched.column("deleted")).as_py() or 0
    return len(base_ids) - replaced + touched.num_rows - deleted


def _parquet_rows(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, pa.ArrowException) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from None


def _same(field: str, recorded: Any, what: str, actual: Any) -> None:
    if recorded != actual:
        raise _Contradiction(f"the manifest's {field} is {recorded!r} but {what} is {actual!r}")


def _close(field: str, recorded: Any, what: str, actual: float) -> None:
    if not isinstance(recorded, (int, float)) or isinstance(recorded, bool) or not math.isclose(recorded, actual, rel_tol=1e-9):
        raise _Contradiction(f"the manifest's {field} is {recorded!r} but {what} is {actual!r}")

