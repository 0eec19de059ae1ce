"""Slow, obviously-correct references: exact k-NN in numpy and recall@k.

``exact_search`` is the ground truth the approximate kinds are measured against (as FAISS's
``knn_ground_truth`` is); it computes in float64 and breaks score ties by the smaller id.
"""

from __future__ import annotations

import numpy as np

from ..errors import QueryError

_BLOCK = 256  # queries per block: bounds memory to 256 * n float64 scores


def exact_search(
    vectors: np.ndarray, ids: np.ndarray | None, queries: np.ndarray, k: int, metric: str = "ip"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k``: ``(scores [nq, k] float32, ids [nq, k] int64)``, same conventions as
    ``VectorIndex.search`` (higher-is-better scores: inner product or negative squared L2;
    id -1 and score -inf where fewer than ``k`` vectors exist)."""
    if metric not in ("ip", "l2"):
        raise QueryError(f"unknown metric {metric!r}; valid: ip, l2")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"k must be a positive integer, got {k!r}")
    xb = np.asarray(vectors, dtype=np.float64)
    xq = np.asarray(queries, dtype=np.float64)
    if xb.ndim != 2 or xq.ndim != 2 or xb.shape[1] != xq.shape[1]:
        raise QueryError(f"vectors {list(xb.shape)} and queries {list(xq.shape)} must be 2-D with equal width")
    labels = np.arange(len(xb), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    if labels.shape != (len(xb),):
        raise QueryError(f"ids has shape {list(labels.shape)} for {len(xb)} vectors")
    nq, kk = len(xq), min(int(k), len(xb))
    out_scores = np.full((nq, int(k)), -np.inf, dtype=np.float32)
    out_ids = np.full((nq, int(k)), -1, dtype=np.int64)
    if kk == 0:
        return out_scores, out_ids
    norms = (xb * xb).sum(axis=1) if metric == "l2" else None
    for start in range(0, nq, _BLOCK):
        q = xq[start : start + _BLOCK]
        scores = q @ xb.T
        if norms is not None:  # -(|q|^2 + |x|^2 - 2 q.x)
            scores = 2 * scores - norms[None, :] - (q * q).sum(axis=1)[:, None]
        for row, s in enumerate(scores):
            order = np.lexsort((labels, -s))[:kk]  # by score desc, then id asc
            out_scores[start + row, :kk] = s[order]
            out_ids[start + row, :kk] = labels[order]
    return out_scores, out_ids


def recall_at_k(found_ids: np.ndarray, true_ids: np.ndarray, k: int) -> float:
    """Mean over queries of |found[:k] & true[:k]| / |true[:k]|, ignoring -1 padding.

    Queries whose true list is empty are skipped; 1.0 when no query has any true neighbour.
    """
    found = np.asarray(found_ids)
    true = np.asarray(true_ids)
    if found.ndim != 2 or true.ndim != 2 or len(found) != len(true):
        raise QueryError(f"found {list(found.shape)} and true {list(true.shape)} must be [nq, *] with equal nq")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise QueryError(f"k must be a positive integer, got {k!r}")
    total, counted = 0.0, 0
    for f, t in zip(found[:, :k], true[:, :k]):
        truth = set(t[t >= 0].tolist())
        if not truth:
            continue
        total += len(truth & set(f[f >= 0].tolist())) / len(truth)
        counted += 1
    return total / counted if counted else 1.0
