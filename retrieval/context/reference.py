"""A slow, plain reimplementation of ``ContextCompressor.compress``, for tests.

One sentence at a time, no caches, no vectorisation, Python sets for keyword overlap: the
straightforward reading of the algorithm in ``compressor.py``. Tests check the fast compressor
selects exactly the same sentences.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..config import CompressorConfig
from ..keyword import Vocabulary
from ..text import Analyzer, split_sentences
from ..types import Hit
from .compressor import separator_tokens
from .render import Source, header, join_sentences, render
from .sentence_cache import Tokenizer
from .sentence_index import SentenceIndex


def compress_reference(
    query: str,
    hits: Sequence[Hit],
    budget: int,
    *,
    tokenizer: Tokenizer,
    analyzer: Analyzer,
    vocabulary: Vocabulary,
    idf: np.ndarray,
    sentences: SentenceIndex | None,
    query_vector: np.ndarray | None,
    config: CompressorConfig,
    chunk_vectors: np.ndarray | None = None,
) -> tuple[tuple[Source, ...], str, int]:
    """``(sources, text, tokens)`` as ``ContextCompressor.compress`` should produce them."""
    whole = tuple(Source(i + 1, h.chunk, h.id, h.doc_id, h.title, h.text) for i, h in enumerate(hits))
    full = render(whole)
    if not hits:
        return whole, full, 0
    headers = [tokenizer.count(header(p + 1, h.title)) for p, h in enumerate(hits)]
    separator = separator_tokens(tokenizer)
    # Whole when the parts' counts say it may fit and the exact count agrees.
    estimate = sum(headers) + sum(tokenizer.count(h.text) for h in hits) + separator * (len(hits) - 1)
    if estimate <= budget and tokenizer.count(full) <= budget:
        return whole, full, tokenizer.count(full)

    def term_set(text: str) -> set[int]:
        ids = (vocabulary.id(t) for t in analyzer(text))
        return {i for i in ids if i is not None}

    query_terms = term_set(query)
    query_weight = sum(float(idf[t]) for t in query_terms)
    items = []  # (hit position, start, end, text, tokens, vector, score)
    for pos, hit in enumerate(hits):
        if sentences is not None:
            first, last = int(sentences.offsets[hit.chunk]), int(sentences.offsets[hit.chunk + 1])
            spans = [(int(sentences.spans[r][0]), int(sentences.spans[r][1])) for r in range(first, last)]
            vectors = [np.asarray(sentences.vectors[r], dtype=np.float32) for r in range(first, last)]
        else:
            spans = split_sentences(hit.text)
            vectors = [None] * len(spans)
        for (start, end), vector in zip(spans, vectors):
            text = hit.text[start:end]
            score = 0.0
            if config.dense_weight and vector is not None and query_vector is not None:
                score += config.dense_weight * float(np.dot(vector, np.asarray(query_vector, dtype=np.float32)))
            if config.keyword_weight and query_weight > 0:
                shared = query_terms & term_set(text)
                score += config.keyword_weight * sum(float(idf[t]) for t in shared) / query_weight
            if config.rank_weight and len(hits) > 1:
                score += config.rank_weight * (1.0 - pos / (len(hits) - 1))
            if config.chunk_weight and chunk_vectors is not None and query_vector is not None:
                chunk_vector = np.asarray(chunk_vectors[hit.chunk], dtype=np.float32)
                score += config.chunk_weight * float(np.dot(chunk_vector, np.asarray(query_vector, dtype=np.float32)))
            items.append((pos, start, end, text, tokenizer.count(" " + text), vector, score))

    order = sorted(range(len(items)), key=lambda i: -items[i][6])  # sorted() is stable
    chosen: list[int] = []
    used = 0
    for i in order:
        pos, vector = items[i][0], items[i][5]
        if vector is not None and any(
            float(np.dot(vector, items[j][5])) >= config.redundancy_threshold for j in chosen
        ):
            continue
        cost = items[i][4]
        if all(items[j][0] != pos for j in chosen):
            cost += headers[pos] + (separator if chosen else 0)
        if used + cost <= budget:
            used += cost
            chosen.append(i)
    while True:
        kept = sorted(chosen)  # items are in (hit, text) order
        sources = []
        for pos in sorted({items[i][0] for i in kept}):
            mine = [i for i in kept if items[i][0] == pos]
            hit = hits[pos]
            text = join_sentences([items[i][3] for i in mine])
            sources.append(Source(pos + 1, hit.chunk, hit.id, hit.doc_id, hit.title, text,
                                  tuple((items[i][1], items[i][2]) for i in mine)))
        text = render(sources)
        tokens = tokenizer.count(text) if sources else 0
        if tokens <= budget:
            return tuple(sources), text, tokens
        # Drop the lowest-scoring kept sentences (first of equals first) until their estimated
        # tokens cover the overshoot, then count again.
        over = tokens - budget
        for i in sorted(kept, key=lambda i: items[i][6]):
            chosen.remove(i)
            over -= max(items[i][4], 1)
            if over <= 0:
                break
