"""From a batch's token states to vectors: a text's pooled vector, and its sentences' vectors.

``pool`` is what sentence-transformers' Pooling module computes (mean over real tokens, the first
token, or the last real token; right padding). ``pool_spans`` gives each sentence of a text the
mean of its own tokens' states, and of the tokens before the text (the prompt and the chunk's
title), from the text's one forward pass: contextual ("late chunking") sentence vectors, so a
build does not run the model a second time over every sentence.

Why the title's tokens: a sentence embedded on its own is embedded after its title, and the
compressor's answer retention depends on it. Measured on SQuAD dev questions 1000-1599 (the
tuning slice, 4x): the sentence's tokens alone 0.963, with the title's tokens 0.966, the
sentence embedded separately after its title 0.970.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pool(states: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """float32 [batch, hidden] from token ``states`` [batch, seq, hidden] and ``mask`` [batch, seq]."""
    if mode == "cls":
        return np.ascontiguousarray(states[:, 0], dtype=np.float32)
    if mode == "lasttoken":
        last = np.maximum(mask.sum(axis=1) - 1, 0)
        return np.ascontiguousarray(states[np.arange(len(states)), last], dtype=np.float32)
    if mode == "mean":
        weights = mask.astype(np.float32)
        summed = np.einsum("bsh,bs->bh", states, weights, dtype=np.float32)
        return summed / np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    raise ValueError(f"unknown pooling {mode!r}")


def normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (as torch's ``F.normalize``: a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def token_spans(offsets: Sequence[tuple[int, int]], special: Sequence[int], spans: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each character span ``(start, end)`` of the original text (``shift`` characters after
    the tokenized string's start, the prompt's and title's length), the token rows ``[first, last)``
    whose characters start inside it, and whether the encoding covers the span whole (False when
    truncation cut the text before the span's end, or no token starts inside it); and the rows of
    the real tokens before the text (the prefix: prompt and title)."""
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2) + shift
    char = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    positions = np.flatnonzero(np.asarray(special, dtype=np.int8) == 0)
    if not len(positions):
        return np.zeros((len(bounds), 2), dtype=np.int64), np.zeros(len(bounds), dtype=bool), positions
    token_starts = char[positions, 0]
    prefix = positions[token_starts < shift]
    first = np.searchsorted(token_starts, bounds[:, 0], side="left")
    last = np.searchsorted(token_starts, bounds[:, 1], side="left")
    first_row = positions[np.minimum(first, len(positions) - 1)]
    rows = np.stack([first_row, first_row + (last - first)], axis=1)
    whole = (last > first) & (bounds[:, 1] <= int(char[positions, 1].max()))
    return rows, whole, prefix


def pool_spans(states: np.ndarray, rows: np.ndarray, prefix: np.ndarray | None = None) -> np.ndarray:
    """Unit-norm mean of ``states[first:last]`` [seq, hidden] together with ``states[prefix]``,
    for each row of ``rows`` [n, 2]: one matrix product of token weights with the states."""
    if len(rows) == 0:
        return np.zeros((0, states.shape[-1]), dtype=np.float32)
    positions = np.arange(states.shape[0])
    weights = ((positions >= rows[:, :1]) & (positions < rows[:, 1:])).astype(np.float32)
    if prefix is not None and len(prefix):
        weights[:, prefix] = 1.0
    weights /= np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    return normalize(weights @ states)
