"""Fusing a keyword ranking and a dense ranking into one (hybrid search).

Both inputs are ranked lists (ids best first, with scores). A document found by only one side is
handled explicitly: it gets nothing from the missing side under RRF, and the missing side's
floor (0 after min-max, that side's lowest z after z-scoring) under convex fusion.
Ties in the fused score break by smaller id, as everywhere else in the engine.
"""

from __future__ import annotations

import numpy as np

from ..config import FusionConfig


def fuse(
    keyword: tuple[np.ndarray, np.ndarray],
    dense: tuple[np.ndarray, np.ndarray],
    k: int,
    config: FusionConfig = FusionConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (ids, fused scores) from two (ids, scores) rankings, best first."""
    kw_ids, kw_scores = _valid(*keyword)
    de_ids, de_scores = _valid(*dense)
    if config.method == "rrf":
        kw_part = config.keyword_weight / (config.rrf_k + np.arange(1, kw_ids.size + 1))
        de_part = config.dense_weight / (config.rrf_k + np.arange(1, de_ids.size + 1))
        kw_missing = de_missing = 0.0
    else:
        normalize = _minmax if config.normalization == "minmax" else _zscore
        kw_part, kw_missing = normalize(kw_scores)
        de_part, de_missing = normalize(de_scores)
        kw_part = kw_part * (1.0 - config.dense_weight)
        de_part = de_part * config.dense_weight
        kw_missing *= 1.0 - config.dense_weight
        de_missing *= config.dense_weight
    ids = np.union1d(kw_ids, de_ids)
    fused = np.full(ids.size, kw_missing + de_missing, dtype=np.float64)
    kw_pos = np.searchsorted(ids, kw_ids)
    de_pos = np.searchsorted(ids, de_ids)
    fused[kw_pos] += kw_part - kw_missing
    fused[de_pos] += de_part - de_missing
    order = np.lexsort((ids, -fused))[:k]
    return ids[order], fused[order]


def _valid(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop padding (id -1) and keep the first occurrence of a repeated id."""
    ids = np.asarray(ids, dtype=np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    keep = ids >= 0
    ids, scores = ids[keep], scores[keep]
    _, first = np.unique(ids, return_index=True)
    first.sort()
    return ids[first], scores[first]


def _minmax(scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Scores mapped to [0, 1]; a missing document counts as this side's minimum (0)."""
    if scores.size == 0:
        return scores, 0.0
    lo, hi = float(scores.min()), float(scores.max())
    if hi == lo:
        return np.ones_like(scores), 0.0
    return (scores - lo) / (hi - lo), 0.0


def _zscore(scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Standardized scores; a missing document counts as this side's lowest z."""
    if scores.size == 0:
        return scores, 0.0
    std = float(scores.std())
    if std == 0.0:
        return np.zeros_like(scores), 0.0
    z = (scores - float(scores.mean())) / std
    return z, float(z.min())
