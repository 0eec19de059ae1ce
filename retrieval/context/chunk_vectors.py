"""A window of chunks embedded for a bundle: each chunk's vector and its sentences' rows.

One function for every writer (a build, an update, a distributed build's embedding actors), so
they all store the same vectors. Sentence vectors are made one of two ways (``sentence_vectors``):

- "contextual": the chunk's own forward pass gives them: each sentence is the mean of its
  tokens' states (``OnnxEmbedder.embed_in_context``), so a dense build runs the model once per
  chunk. A sentence the model's window cut off (a chunk longer than ``max_seq_length``) is
  embedded on its own, as "separate" would.
- "separate": every sentence embedded again on its own, after its chunk's title
  (``sentence_index.sentence_texts``). An embedder without token states (a remote endpoint, an
  ONNX file that pools inside) always works this way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .sentence_index import embed_sentences, sentence_texts


def indexed_text(chunk: Any, include_title: bool) -> str:
    """What a chunk is analyzed (BM25) and embedded as, in a build, an update and a compaction:
    title and text joined by a newline (the sequence the chunker's token budget counted) when
    ``chunker.include_title``, else the text alone."""
    return f"{chunk.title}\n{chunk.text}" if include_title else chunk.text


def sentence_title(chunk: Any, include_title: bool) -> str:
    """The title a chunk's sentences are embedded after (``""`` when titles are not indexed)."""
    return chunk.title if include_title else ""


@dataclass
class EmbeddedWindow:
    """``vectors`` float32 [n_chunks, dim]; per chunk its sentence spans int32 [k, 2] and fp16
    vectors [k, dim] (None without a sentence index); seconds spent per stage."""

    vectors: np.ndarray
    sentences: list[tuple[np.ndarray, np.ndarray]] | None
    seconds: dict[str, float] = field(default_factory=dict)


def sentence_mode(embedder: Any, requested: str) -> str:
    """The way this embedder makes sentence vectors when ``requested`` is asked for."""
    return "contextual" if requested == "contextual" and getattr(embedder, "contextual", False) else "separate"


def embed_window(embedder: Any, chunks: Sequence[Any], include_title: bool, sentences: bool, mode: str) -> EmbeddedWindow:
    """Vectors for ``chunks`` (embedded as ``indexed_text``) and, when ``sentences``, their
    sentences' rows, made as ``sentence_mode(embedder, mode)`` says."""
    texts = [indexed_text(c, include_title) for c in chunks]
    t0 = time.perf_counter()
    if not chunks:
        return EmbeddedWindow(_embed(embedder, texts), [] if sentences else None)
    if not sentences:
        return EmbeddedWindow(_embed(embedder, texts), None, {"embed_s": time.perf_counter() - t0})
    per_chunk = [sentence_texts(c.text, sentence_title(c, include_title)) for c in chunks]
    spans = [np.asarray(s, dtype=np.int32).reshape(-1, 2) for s, _ in per_chunk]
    titled = [t for _, texts_ in per_chunk for t in texts_]
    if sentence_mode(embedder, mode) == "contextual":
        shifts = [len(c.title) + 1 if include_title else 0 for c in chunks]  # "title\n" before the text
        vectors, pooled, whole = embedder.embed_in_context(texts, spans, shifts)
        t1 = time.perf_counter()
        cut = np.flatnonzero(~whole)
        if len(cut):
            pooled[cut] = embedder.embed([titled[i] for i in cut])
        rows = pooled.astype(np.float16)
    else:
        vectors = _embed(embedder, texts)
        t1 = time.perf_counter()
        rows = embed_sentences(embedder, titled)
    seconds = {"embed_s": t1 - t0, "sentences_s": time.perf_counter() - t1}
    bounds = np.concatenate([[0], np.cumsum([len(s) for s in spans])])
    split = [(s, rows[bounds[i] : bounds[i + 1]]) for i, s in enumerate(spans)]
    return EmbeddedWindow(vectors, split, seconds)


def _embed(embedder: Any, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, int(embedder.dim)), dtype=np.float32)
    return np.ascontiguousarray(embedder.embed(texts), dtype=np.float32)
