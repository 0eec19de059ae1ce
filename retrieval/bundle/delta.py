"""An update's delta: what a bundle version adds to its base, and how it is read back.

A version is its base (the files a build or a compaction wrote; ``manifest.base`` names their
subdirectory, ``""`` for the bundle root) plus at most one delta directory
(``manifest.delta.dir``) holding everything changed since that base, cumulatively: each
update writes a new delta from the previous one plus its own changes, so opening reads one base and
one delta however many updates happened. Chunk ids stay stable: base chunks keep ``0 .. n_base-1``,
added chunks get the next ids, deleted ones become tombstones.

Files of a delta directory:

    chunks.parquet      the added chunks, row r = chunk id n_base + r (Parquet-stored bundles)
    documents.parquet   latest state of every document touched since the base: doc_id,
                        content_hash, first_chunk, n_chunks, deleted
    tombstones.npy      int64, sorted: every chunk id no longer live (base or delta)
    tokens.npy          uint32: the added chunks' BM25 term ids, concatenated (global vocabulary)
    token_offsets.npy   uint64 [n_delta + 1]
    new_terms.json      the terms first seen in updates (global id = base vocabulary size + position)
    df.npy              uint32 [global vocabulary]: live document frequency of every term
    bm25/               the native index over the added chunks (plain; opened with live stats)
    metadata.parquet    metadata rows (doc_id, key, value) of the live documents in the delta
    vectors.npy         float32: the added chunks' embeddings (dense bundles)
    vectors.faiss       the whole vector index (base vectors + added ones, via add_with_ids)
    sentences/          the added chunks' sentence index (bundles with one)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError
from .layout import BM25_DIR, DF_FILE, NEW_TERMS_FILE
from .manifest import DeltaSection

def load_array(path: Path, mmap: bool = True) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from None


def load_new_terms(directory: Path) -> list[str]:
    try:
        terms = json.loads((directory / NEW_TERMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {directory / NEW_TERMS_FILE}: {exc}") from None
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise BundleError(f"{directory / NEW_TERMS_FILE} is not a JSON list of strings")
    return terms


def live_ids(total: int, tombstones: np.ndarray) -> np.ndarray | None:
    """Sorted int64 ids of the live chunks, or None when nothing is deleted (every id is live)."""
    if tombstones.size == 0:
        return None
    live = np.setdiff1d(np.arange(total, dtype=np.int64), np.asarray(tombstones, dtype=np.int64), assume_unique=True)
    live.setflags(write=False)
    return live


def open_bm25(base_dir: Path, delta_dir: Path, section: DeltaSection, keyword_stats: Any = None) -> Any:
    """The keyword side of a version: base + delta segments scored with the live corpus's stats
    (``keyword_stats``: with those a function of the vocabulary gives instead)."""
    from ..keyword import BM25
    from ..keyword.bm25 import load_index_arrays
    from ..native import BM25Index
    from .segments import SegmentedIndex

    base = BM25.load(base_dir / BM25_DIR)
    for term in load_new_terms(delta_dir):
        base.vocabulary.add([term])
    if len(base.vocabulary) != section.vocab:
        raise BundleError(f"{delta_dir} extends the vocabulary to {len(base.vocabulary)} terms, the manifest says {section.vocab}")
    df = load_array(delta_dir / DF_FILE, mmap=False)
    if df.dtype != np.uint32 or df.shape != (section.vocab,):
        raise BundleError(f"{delta_dir / DF_FILE} does not match the manifest ({df.dtype} {df.shape})")
    stats = {"n_docs": section.live_docs, "total_tokens": section.live_tokens, "df": df}
    if keyword_stats is not None:
        stats = keyword_stats(base.vocabulary.terms())
        df = stats["df"][: section.vocab]
    cfg = base.config

    def reopen(arrays: dict[str, np.ndarray], where: Path) -> Any:
        try:
            return BM25Index.from_arrays(arrays, cfg.variant, cfg.k1, cfg.b, cfg.epsilon, stats=stats)
        except (ValueError, TypeError, KeyError) as exc:
            raise BundleError(f"corrupt BM25 index in {where}: {exc}") from None

    base_index = reopen(load_index_arrays(base_dir / BM25_DIR), base_dir / BM25_DIR)
    delta_index = reopen(load_index_arrays(delta_dir / BM25_DIR), delta_dir / BM25_DIR) if section.chunks else None
    return BM25(base.analyzer, base.vocabulary, SegmentedIndex(base_index, delta_index, df), cfg)
