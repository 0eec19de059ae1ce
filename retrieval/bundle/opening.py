"""Opening the parts of one version of a bundle: its base, and its delta when it has been updated.

``retrieval.bundle.view.open_version`` makes them a ``BundleView``; updates read them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..config import IndexConfig
from ..errors import BundleError
from ..search.filters import MetadataIndex, read_metadata_table
from ..stores import ChunkStore
from . import layout
from .delta import live_ids, load_array, open_bm25
from .layout import BM25_DIR, METADATA_FILE
from .manifest import DeltaSection, Manifest, dump

if TYPE_CHECKING:
    from ..keyword import BM25
    from ..search import DenseSide


@dataclass
class VersionParts:
    store: ChunkStore
    bm25: BM25
    dense: DenseSide | None
    live: np.ndarray | None
    metadata: MetadataIndex
    sentences: Any  # retrieval.context.sentence_index.SentenceIndex (or a stacked one), or None
    tombstones: np.ndarray | None = None  # sorted deleted chunk ids (None: nothing deleted)
    # BM25 scores with statistics from outside the bundle (a shard scoring as its collection).
    external_stats: bool = False


def base_dir(root: Path, manifest: Manifest) -> Path:
    """Where the version's base files are: the root, or the subdirectory a compaction wrote."""
    name = manifest.base
    if "/" in name or name.startswith("."):
        raise BundleError(f"manifest names an invalid base directory {name!r}")
    return root / name if name else root


# Given a bundle's vocabulary (its terms by id), the statistics its BM25 scores with
# (``BM25Index.from_arrays(stats=...)``); see ``retrieval.collection.stats``.
KeywordStats = Callable[[list[str]], dict[str, Any]]


def open_parts(
    root: Path,
    manifest: Manifest,
    config: IndexConfig,
    *,
    embedder: Any = None,
    store_dsn: str | None = None,
    keyword_stats: KeywordStats | None = None,
) -> VersionParts:
    """The version's parts, after checking the manifest's values against them (``consistency``).

    ``keyword_stats``: score BM25 with these statistics instead of the bundle's own.
    """
    from .consistency import check_values

    base = base_dir(root, manifest)
    parts = _open_parts(root, manifest, config, base, manifest.delta, embedder, store_dsn, keyword_stats)
    try:
        check_values(root, manifest, config, parts, base)
    except BaseException:
        parts.store.close()
        raise
    return parts


def _open_parts(
    root: Path,
    manifest: Manifest,
    config: IndexConfig,
    base: Path,
    section: DeltaSection | None,
    embedder: Any,
    store_dsn: str | None,
    keyword_stats: KeywordStats | None = None,
) -> VersionParts:
    from ..stores import open_chunk_store

    n_base = manifest.base_chunks
    # Each section's contents belong to the module that wrote it: it reads the JSON form.
    store_section = dump(manifest.store)
    postgres = not manifest.parquet_store
    if section is None:
        store = open_chunk_store(base, store_section, n_base, dsn=store_dsn)
        return VersionParts(
            store=store,
            bm25=_open_base_bm25(base / BM25_DIR, keyword_stats),
            dense=_open_dense(base, None, manifest, config, embedder),
            live=None,
            metadata=MetadataIndex(base / METADATA_FILE if manifest.metadata else None, store.all_doc_ids),
            sentences=_open_sentences(base, None, manifest, n_base),
            external_stats=keyword_stats is not None,
        )
    delta = root / section.dir
    if postgres:  # added chunks are rows past the base's in the same table
        store = open_chunk_store(base, store_section, section.total_chunks, dsn=store_dsn)
    else:
        from ..stores import ParquetChunkStore
        from .layers import LayeredChunkStore

        store = LayeredChunkStore(
            open_chunk_store(base, store_section, n_base, dsn=store_dsn), ParquetChunkStore(delta / layout.CHUNKS_FILE)
        )
        if len(store) != section.total_chunks:
            raise BundleError(f"{delta} holds {len(store.delta)} added chunks, the manifest says {section.chunks}")
    tombstones = load_array(delta / layout.TOMBSTONES_FILE, mmap=False)
    if tombstones.dtype != np.int64 or len(tombstones) != section.tombstones:
        raise BundleError(f"{delta / layout.TOMBSTONES_FILE} does not match the manifest")
    live = live_ids(section.total_chunks, tombstones)
    metadata = MetadataIndex(_metadata_loader(base, delta, manifest), store.all_doc_ids, live=live)
    return VersionParts(
        store=store,
        bm25=open_bm25(base, delta, section, keyword_stats),
        dense=_open_dense(base, delta, manifest, config, embedder),
        live=live,
        metadata=metadata,
        sentences=_open_sentences(base, (delta, section), manifest, n_base),
        tombstones=tombstones if live is not None else None,
        external_stats=keyword_stats is not None,
    )


def _open_base_bm25(directory: Path, keyword_stats: KeywordStats | None) -> "BM25":
    from ..keyword import BM25

    bm25 = BM25.load(directory)
    if keyword_stats is None:
        return bm25
    from ..keyword.bm25 import load_index_arrays
    from ..native import BM25Index

    cfg = bm25.config
    stats = keyword_stats(bm25.vocabulary.terms())
    try:
        index = BM25Index.from_arrays(load_index_arrays(directory), cfg.variant, cfg.k1, cfg.b, cfg.epsilon, stats=stats)
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"corrupt BM25 index in {directory}: {exc}") from None
    return BM25(bm25.analyzer, bm25.vocabulary, index, cfg)


def _open_dense(base: Path, delta: Path | None, manifest: Manifest, config: IndexConfig, embedder: Any) -> Any:
    if manifest.dense is None:
        return None
    from .. import dense_index

    return dense_index.open_dense(base, dump(manifest.dense), config.embedding, embedder, delta_dir=delta)


def _open_sentences(base: Path, delta: tuple[Path, DeltaSection] | None, manifest: Manifest, n_base: int) -> Any:
    if manifest.sentences is None:
        return None
    from ..context.sentence_index import SentenceIndex

    index = SentenceIndex.open(base, dump(manifest.sentences), n_base)
    if delta is None:
        return index
    directory, section = delta
    if not section.sentences:
        raise BundleError(f"{directory} has no sentence index for its added chunks, and the base has one")
    from .layers import stack_sentence_indexes

    return stack_sentence_indexes(index, SentenceIndex.open(directory, dump(section.sentences), section.chunks))


def _metadata_loader(base: Path, delta: Path, manifest: Manifest) -> Any:
    """The metadata table of the live version: base rows of documents the delta does not
    touch, then the delta's rows. None when the bundle predates stored metadata."""
    if manifest.metadata is None:
        return None

    def load() -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        base_rows = read_metadata_table(base / METADATA_FILE)
        try:
            touched = pq.read_table(delta / layout.DOCUMENTS_FILE, columns=["doc_id"]).column("doc_id")
        except (OSError, pa.ArrowException) as exc:
            raise BundleError(f"cannot read {delta / layout.DOCUMENTS_FILE}: {exc}") from None
        kept = base_rows.filter(pc.invert(pc.is_in(base_rows["doc_id"], value_set=touched.combine_chunks())))
        return pa.concat_tables([kept, read_metadata_table(delta / layout.METADATA_FILE)]).combine_chunks()

    return load
