"""Shared helpers for the native BM25 tests: corpus generation and array packing."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from retrieval.native import BM25Index


def pack(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets uint64 [n+1], tokens uint32) for a list of id lists."""
    offsets = np.zeros(len(lists) + 1, dtype=np.uint64)
    np.cumsum([len(x) for x in lists], out=offsets[1:])
    flat = [t for x in lists for t in x]
    return offsets, np.array(flat, dtype=np.uint32)


def build(docs: Sequence[Sequence[int]], vocab_size: int, **params) -> BM25Index:
    offsets, tokens = pack(docs)
    return BM25Index.build(offsets, tokens, vocab_size, **params)


def q(ids: Sequence[int]) -> np.ndarray:
    return np.array(ids, dtype=np.uint32)


def first_occurrence_ids(docs: Sequence[Sequence[int]]) -> tuple[list[list[int]], int]:
    """Renumber ids in first-occurrence order (how retrieval.keyword numbers terms)."""
    mapping: dict[int, int] = {}
    out = [[mapping.setdefault(t, len(mapping)) for t in d] for d in docs]
    return out, len(mapping)


def zipf_corpus(rng: np.random.Generator, n_docs: int, vocab: int, mean_len: int) -> list[np.ndarray]:
    """Documents of Poisson length whose term ids follow a Zipf(1.1) law over `vocab` ids."""
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    p = ranks**-1.1
    p /= p.sum()
    lengths = rng.poisson(mean_len, size=n_docs)
    tokens = rng.choice(vocab, size=int(lengths.sum()), p=p).astype(np.uint32)
    return np.split(tokens, np.cumsum(lengths)[:-1])


def zipf_queries(rng: np.random.Generator, n: int, vocab: int, mean_len: int) -> list[np.ndarray]:
    """Queries drawn from a flatter Zipf(0.8) law: users ask for rarer words than text holds."""
    ranks = np.arange(1, vocab + 1, dtype=np.float64)
    p = ranks**-0.8
    p /= p.sum()
    return [rng.choice(vocab, size=max(1, rng.poisson(mean_len)), p=p).astype(np.uint32) for _ in range(n)]
