"""Dense search restricted to keyword candidates (BM25-prefiltered dense retrieval).

Few candidates are scored exactly from the stored vectors (a gather and one matrix-vector
product); many go through the vector index with an id selector. Approximate indexes can come
back short when the allowed set is small, so a short answer falls back to exact scoring: the
result always holds ``min(k, len(candidates))`` hits.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..config import PrefilterConfig


def exact_topk(vectors: np.ndarray, candidates: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of ``candidates`` by inner product with ``query``; ties by smaller id."""
    cands = np.unique(np.asarray(candidates, dtype=np.int64))  # sorted: sequential reads of a memmap
    if cands.size == 0:
        return cands, np.empty(0, dtype=np.float32)
    scores = np.asarray(vectors[cands], dtype=np.float32) @ np.asarray(query, dtype=np.float32)
    if cands.size > k:
        # Keep everything tied with the k-th score so the id tie-break below stays exact.
        kth = np.partition(scores, cands.size - k)[cands.size - k]
        keep = scores >= kth
        cands, scores = cands[keep], scores[keep]
    order = np.lexsort((cands, -scores))[:k]
    return cands[order], scores[order]


def prefilter_search(
    query: np.ndarray,
    candidates: np.ndarray,
    k: int,
    vectors: np.ndarray,
    index: Any,
    config: PrefilterConfig = PrefilterConfig(),
    params: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """(ids, scores, path) where path says how it was answered: "exact" or "index"."""
    cands = np.unique(np.asarray(candidates, dtype=np.int64))
    if cands.size <= config.exact_max:
        ids, scores = exact_topk(vectors, cands, query, k)
        return ids, scores, "exact"
    scores, ids = index.search(np.asarray(query, dtype=np.float32)[None, :], k, params=params, selector_ids=cands)
    found = ids[0] >= 0
    if int(found.sum()) < min(k, cands.size):
        ids, scores = exact_topk(vectors, cands, query, k)
        return ids, scores, "exact"
    return ids[0][found], scores[0][found], "index"
