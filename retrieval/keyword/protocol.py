"""The keyword-index interface: what BM25 search needs from an index over term ids.

Two implementations: the native ``retrieval._native.BM25Index`` (one segment, a build or a base)
and ``retrieval.bundle.segments.SegmentedIndex`` (an updated bundle's base and delta segments,
scored with the live corpus's statistics). ``tests/unit/test_protocols.py`` holds both to it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class KeywordIndex(Protocol):
    """BM25 over documents ``0 .. n_docs - 1`` and terms ``0 .. vocab_size - 1``."""

    @property
    def n_docs(self) -> int: ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def avgdl(self) -> float: ...

    @property
    def total_postings(self) -> int: ...

    def df(self, term: int) -> int:
        """Documents containing ``term``."""
        ...

    def arrays(self) -> dict[str, np.ndarray]:
        """The index's arrays by name (``idf`` among them), as saved in a bundle's ``bm25/``."""
        ...

    def topk(self, terms: np.ndarray, k: int, strategy: str = "auto") -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best (ids, scores), best first, ties by smaller id; only matching documents."""
        ...

    def topk_batch(
        self, offsets: np.ndarray, tokens: np.ndarray, k: int, n_threads: int = 0, strategy: str = "auto"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``topk`` for many queries (ids [nq, k] padded with -1, scores padded with -inf, counts)."""
        ...

    def scores(self, terms: np.ndarray) -> np.ndarray:
        """float64 score of every document (0 where no term matches)."""
        ...

    def matching(self, terms: np.ndarray) -> np.ndarray:
        """Sorted int64 ids of the documents containing any of ``terms``."""
        ...
