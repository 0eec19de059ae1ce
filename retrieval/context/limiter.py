"""The chunk limiter: which ranked hits go on to the compressor, and in what order.

``limit_chunks`` is a pure function over plain inputs (scores, document ids, token counts and a
similarity matrix), applied in this order:

1. relative cutoff: with ``anchor = min(0, lowest score)``, a hit is kept when
   ``score - anchor >= min_relative_score * (best - anchor)``. For non-negative scores (BM25)
   that is ``score >= f * best``; for scores that can be negative (cosine, fused) it is the
   min-max position. All scores equal: all kept.
2. maximal marginal relevance: repeatedly take the hit maximising
   ``λ * relevance - (1 - λ) * (highest similarity to a kept hit)`` where relevance is the score
   on the same anchored 0..1 scale; λ = 1 keeps rank order.
3. while taking: skip a near duplicate (similarity to a kept hit >= ``duplicate_threshold``),
   a hit whose document already has ``max_per_document`` kept hits, and a hit whose tokens no
   longer fit ``budget_tokens`` (later, smaller hits may still fit).

Similarity is the cosine of the chunks' stored embeddings on a dense bundle
(``cosine_similarity``), else the Jaccard overlap of their word sets (``jaccard_similarity``).
The token budget here counts chunk text only; the compressor's budget is the exact one.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from ..config import LimiterConfig
from ..errors import QueryError
from ..types import Hit
from .sentence_cache import Tokenizer

_WORD = re.compile(r"\w+")


def limit_chunks(
    scores: Sequence[float] | np.ndarray,
    doc_ids: Sequence[str],
    tokens: Sequence[int] | np.ndarray,
    similarity: np.ndarray,
    config: LimiterConfig | None = None,
) -> list[int]:
    """Positions of the hits to keep, in the order to use them (see the module docstring)."""
    config = config if config is not None else LimiterConfig()
    s = np.asarray(scores, dtype=np.float64)
    n = len(s)
    if len(doc_ids) != n or len(tokens) != n or np.shape(similarity) != (n, n):
        raise QueryError(
            f"limit_chunks needs one doc id, token count and similarity row per score "
            f"({n} scores, {len(doc_ids)} doc ids, {len(tokens)} token counts, similarity {np.shape(similarity)})"
        )
    if n == 0:
        return []
    relevance = relative_scores(s)
    candidates = [i for i in range(n) if relevance[i] >= config.min_relative_score]
    sim = np.asarray(similarity, dtype=np.float64)
    lam = config.mmr_lambda
    max_sim = np.zeros(n, dtype=np.float64)  # to the kept hits; 0 while none is kept
    per_doc: dict[str, int] = {}
    left = config.budget_tokens
    kept: list[int] = []
    while candidates:
        gains = [lam * relevance[i] - (1.0 - lam) * max_sim[i] for i in candidates]
        best = candidates.pop(int(np.argmax(gains)))  # argmax: the first of equals, i.e. the better ranked
        if kept and max_sim[best] >= config.duplicate_threshold:
            continue
        doc = doc_ids[best]
        if config.max_per_document and per_doc.get(doc, 0) >= config.max_per_document:
            continue
        if left is not None:
            if tokens[best] > left:
                continue
            left -= int(tokens[best])
        kept.append(best)
        per_doc[doc] = per_doc.get(doc, 0) + 1
        np.maximum(max_sim, sim[best], out=max_sim)
    return kept


def relative_scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores on a 0..1 scale: ``(score - anchor) / (best - anchor)``, anchor = min(0, lowest)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return s
    if not np.all(np.isfinite(s)):
        raise QueryError("hit scores must be finite numbers")
    anchor = min(0.0, float(s.min()))
    span = float(s.max()) - anchor
    if span <= 0.0:
        return np.ones_like(s)
    return (s - anchor) / span


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine of the rows of ``vectors`` (normalised here; zero rows give 0)."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(norms > 0, norms, 1.0)
    return (v @ v.T).astype(np.float64)


def jaccard_similarity(texts: Sequence[str]) -> np.ndarray:
    """Pairwise Jaccard overlap of the lowercased word sets of ``texts`` (two empty texts: 0)."""
    sets = [frozenset(_WORD.findall(t.lower())) for t in texts]
    n = len(sets)
    out = np.eye(n, dtype=np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            union = len(sets[i] | sets[j])
            out[i, j] = out[j, i] = len(sets[i] & sets[j]) / union if union else 0.0
    return out


def limit_hits(
    hits: Sequence[Hit],
    tokenizer: Tokenizer,
    config: LimiterConfig | None = None,
    vectors: np.ndarray | None = None,
) -> list[Hit]:
    """``limit_chunks`` over search hits; ``vectors`` are the hits' embeddings (dense bundles).

    On an opened engine: ``vectors = engine.view().chunk_vectors[[h.chunk for h in hits]]``.
    """
    if not hits:
        return []
    tokens = tokenizer.count_many([h.text for h in hits])
    if vectors is not None:
        if len(vectors) != len(hits):
            raise QueryError(f"{len(hits)} hits but {len(vectors)} vectors")
        similarity = cosine_similarity(vectors)
    else:
        similarity = jaccard_similarity([h.text for h in hits])
    keep = limit_chunks([h.score for h in hits], [h.doc_id for h in hits], tokens, similarity, config)
    return [hits[i] for i in keep]
