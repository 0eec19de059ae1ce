"""Length-sorted batching: group texts of similar token length, then restore input order.

Sorting longest first (as sentence-transformers' ``encode`` does) keeps padding small: a batch
is padded to its longest text, which is its first. A batch is closed when it holds
``max_batch`` texts or when one more text would make ``padded length × batch size`` exceed
``max_batch_tokens`` (attention memory and time grow with that product).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def plan_batches(lengths: Sequence[int] | np.ndarray, max_batch: int, max_batch_tokens: int) -> list[np.ndarray]:
    """Index arrays into ``lengths``, one per batch, longest texts first.

    Every index appears exactly once. A single text longer than ``max_batch_tokens`` still gets
    a batch of its own (callers cap lengths at the model limit first).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")  # ties keep input order: deterministic batches
    batches: list[np.ndarray] = []
    start = 0
    n = len(order)
    while start < n:
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(max_batch, max_batch_tokens // longest, n - start))
        batches.append(order[start : start + size])
        start += size
    return batches


def pad(ids: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` int64 arrays, right-padded to the longest row."""
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    width = int(lengths.max()) if len(lengths) else 0
    input_ids = np.full((len(ids), width), pad_id, dtype=np.int64)
    for r, row in enumerate(ids):
        input_ids[r, : len(row)] = row
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return input_ids, mask


def padding_efficiency(lengths: Sequence[int] | np.ndarray, batches: list[np.ndarray]) -> float:
    """Real tokens / padded tokens over all batches (1.0 means no padding)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    real = int(lengths.sum())
    padded = sum(int(lengths[b].max()) * len(b) for b in batches if len(b))
    return real / padded if padded else 1.0
