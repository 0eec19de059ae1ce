"""BM25 over a base segment plus a delta segment, scored with the live corpus's statistics.

Both segments are native indexes opened with the same corpus statistics (live document count,
live token total, live document frequency of every term of the global vocabulary), so every live
chunk scores exactly as it would in one fresh index over the live chunks. Deleted chunks keep
their postings; the engine filters them out before ranking (see ``Engine``'s live set).

The global vocabulary is the base's followed by the terms first seen in updates, so base term
ids are unchanged and a query's ids past the base vocabulary are sent to the delta only.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class SegmentedIndex:
    """The native ``BM25Index`` interface the planner and engine use, over two segments."""

    def __init__(self, base: Any, delta: Any | None, stats_df: np.ndarray) -> None:
        self.base = base
        self.delta = delta
        self.split = int(base.n_docs)
        self.base_vocab = int(base.vocab_size)
        self._df = stats_df
        self._idf: np.ndarray | None = None

    @property
    def n_docs(self) -> int:
        return self.split + (int(self.delta.n_docs) if self.delta is not None else 0)

    @property
    def vocab_size(self) -> int:
        return len(self._df)

    @property
    def avgdl(self) -> float:
        return float(self.base.avgdl)

    @property
    def total_postings(self) -> int:
        return int(self.base.total_postings) + (int(self.delta.total_postings) if self.delta is not None else 0)

    def df(self, term: int) -> int:
        """Live document frequency (deleted chunks not counted)."""
        return int(self._df[term])

    def arrays(self) -> dict[str, np.ndarray]:
        """Only ``idf`` (over the global vocabulary): what the context compressor reads."""
        if self._idf is None:
            # The delta is opened over the whole global vocabulary; without one it equals the base's.
            source = self.delta if self.delta is not None else self.base
            self._idf = np.asarray(source.arrays()["idf"], dtype=np.float64)
        return {"idf": self._idf}

    def _base_terms(self, terms: np.ndarray) -> np.ndarray:
        terms = np.asarray(terms, dtype=np.uint32)
        return terms[terms < self.base_vocab]

    def topk(self, terms: np.ndarray, k: int, strategy: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """Top-k of both segments merged: best first, ties by smaller id (delta ids follow base ids)."""
        terms = np.asarray(terms, dtype=np.uint32)
        base_terms = self._base_terms(terms)
        ids, scores = self.base.topk(base_terms, k, strategy) if base_terms.size else _empty()
        if self.delta is None:
            return ids, scores
        delta_ids, delta_scores = self.delta.topk(terms, k, strategy)
        if not len(delta_ids):
            return ids, scores
        ids = np.concatenate([ids, delta_ids + self.split])
        scores = np.concatenate([scores, delta_scores])
        order = np.lexsort((ids, -scores))[:k]
        return ids[order], scores[order]

    def topk_batch(self, offsets: np.ndarray, tokens: np.ndarray, k: int, n_threads: int = 0, strategy: str = "auto"):
        """(ids [nq,k] padded with -1, scores [nq,k] padded with -inf, counts [nq]), one query at a time."""
        nq = max(len(offsets) - 1, 0)
        ids = np.full((nq, k), -1, dtype=np.int64)
        scores = np.full((nq, k), -np.inf, dtype=np.float64)
        counts = np.zeros(nq, dtype=np.int64)
        for q in range(nq):
            found, found_scores = self.topk(tokens[int(offsets[q]) : int(offsets[q + 1])], k, strategy)
            counts[q] = len(found)
            ids[q, : len(found)] = found
            scores[q, : len(found)] = found_scores
        return ids, scores, counts

    def scores(self, terms: np.ndarray) -> np.ndarray:
        base = np.asarray(self.base.scores(self._base_terms(terms)))
        if self.delta is None:
            return base
        return np.concatenate([base, np.asarray(self.delta.scores(np.asarray(terms, dtype=np.uint32)))])

    def matching(self, terms: np.ndarray) -> np.ndarray:
        base = np.asarray(self.base.matching(self._base_terms(terms)), dtype=np.int64)
        if self.delta is None:
            return base
        delta = np.asarray(self.delta.matching(np.asarray(terms, dtype=np.uint32)), dtype=np.int64)
        return np.concatenate([base, delta + self.split])


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
