"""The compiled BM25 core (``retrieval._native``) and plain numpy references for it.

``BM25Index`` and ``PostingsAccumulator`` (which builds one from documents added in batches) are
re-exported from the C++ extension. The two ``*_reference`` functions below are
deliberately slow and simple: tests compare the native index against them exactly (same doubles,
same order), the way bm25s is tested against rank_bm25. They follow rank_bm25's arithmetic
operation by operation, so the ``okapi`` variant equals ``rank_bm25.BM25Okapi`` bit for bit when
term ids are numbered in first-occurrence order (as ``retrieval.keyword`` numbers them).

With ``stats``, the reference scores a segment of a larger corpus the way
``BM25Index.from_arrays(..., stats=...)`` does: N, avgdl and df come from the corpus.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np

from .keyword.variants import variant_names

try:
    from ._native import BM25Index, PostingsAccumulator
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "retrieval._native (the C++ BM25 core) is not built or failed to load: "
        f"{exc}. Build it with `make test` or `pip install -e .` from the project root."
    ) from exc

__all__ = ["BM25Index", "PostingsAccumulator", "bm25_scores_reference", "topk_reference"]


def _idf_table(df: Counter, n_docs: int, variant: str, epsilon: float) -> dict[int, float]:
    """idf per term with df > 0, exactly as the native index computes it."""
    if variant == "lucene":
        return {t: math.log(1 + (n_docs - n + 0.5) / (n + 0.5)) for t, n in df.items()}
    # okapi = rank_bm25.BM25Okapi._calc_idf; the average is summed in increasing id order.
    raw = {t: math.log(n_docs - n + 0.5) - math.log(n + 0.5) for t, n in sorted(df.items())}
    if not raw:
        return {}
    idf_sum = 0.0
    for value in raw.values():
        idf_sum += value
    floor = epsilon * (idf_sum / len(raw))
    return {t: (floor if value < 0 else value) for t, value in raw.items()}


def bm25_scores_reference(
    docs: Sequence[Sequence[int]],
    query: Sequence[int],
    variant: str = "lucene",
    k1: float = 1.5,
    b: float = 0.75,
    epsilon: float = 0.25,
    *,
    stats: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Dense BM25 scores of every document for ``query`` (term ids), float64.

    Each query position adds its term's contribution to the documents containing it, in query
    order starting from 0.0 (a repeated term counts once per occurrence): rank_bm25's loop.

    ``stats`` (``{"n_docs": int, "total_tokens": int, "df": sequence indexed by term id}``, as
    ``BM25Index.from_arrays`` takes it) scores ``docs`` as a segment of that corpus: N, avgdl and
    idf come from ``stats``; without it, from ``docs`` themselves.
    """
    if variant not in variant_names():
        raise ValueError(f"unknown variant {variant!r}; use one of {variant_names()}")
    n_docs = len(docs)
    scores = np.zeros(n_docs, dtype=np.float64)
    if n_docs == 0:
        return scores
    doc_len = np.array([len(d) for d in docs], dtype=np.int64)
    tf = [Counter(d) for d in docs]
    if stats is None:
        corpus_docs, total_tokens = n_docs, int(doc_len.sum())
        df = Counter(t for counts in tf for t in counts)
    else:
        corpus_docs, total_tokens = int(stats["n_docs"]), int(stats["total_tokens"])
        df = Counter({t: int(n) for t, n in enumerate(stats["df"]) if n > 0})
    avgdl = total_tokens / corpus_docs if corpus_docs else 0.0
    idf = _idf_table(df, corpus_docs, variant, epsilon)
    if avgdl == 0:
        # Every corpus document is empty; only a segment's dropped documents can match. The
        # native index gives them the norm of an empty document.
        norm = np.full(n_docs, k1 * (1 - b))
    else:
        # Same association as rank_bm25: k1 * ((1 - b) + ((b * dl) / avgdl)).
        norm = k1 * (1 - b + b * doc_len / avgdl)
    for term in query:
        if term not in idf:
            continue
        freq = np.array([counts.get(term, 0) for counts in tf], dtype=np.int64)
        present = freq > 0  # absent docs add nothing (rank_bm25 adds an exact 0.0)
        f = freq[present]
        if variant == "okapi":
            part = idf[term] * (f * (k1 + 1) / (f + norm[present]))
        else:
            part = idf[term] * (f / (f + norm[present]))
        scores[present] += part
    return scores


def topk_reference(scores: np.ndarray, matching_mask: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (ids int64, scores float64) among the matching docs: by score, then smaller id."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    candidates = np.flatnonzero(matching_mask)
    # lexsort sorts by the last key first: -score, then id.
    order = np.lexsort((candidates, -scores[candidates]))
    ids = candidates[order][:k].astype(np.int64)
    return ids, scores[ids].astype(np.float64)
