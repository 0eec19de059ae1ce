"""The context stage: chunk limiter, sentence index, query-aware compressor, context format.

    hits = engine.search(question, k=10, mode="hybrid").hits
    hits = limit_hits(hits, tokenizer, LimiterConfig(max_per_document=2))
    compressor = ContextCompressor.for_engine(engine, tokenizer)
    context = compressor.compress(question, hits, budget_tokens=512)
    context.text      # "[1] Title\\nsentence. sentence.\\n\\n[2] ..."; tokenizer.count(text) <= 512
    context.sources   # citations: number, chunk, chunk_id, doc_id, title, kept spans

``tokenizer`` is anything with ``fingerprint``, ``count`` and ``count_many`` — the generator's
own tokenizer, so the budget is exact for the model that reads the context.
"""

from __future__ import annotations

from .compressor import CompressedContext, ContextCompressor
from .limiter import cosine_similarity, jaccard_similarity, limit_chunks, limit_hits, relative_scores
from .render import Source, render
from .sentence_cache import Tokenizer
from .sentence_index import SentenceIndex, SentenceIndexBuilder

__all__ = [
    "CompressedContext",
    "ContextCompressor",
    "SentenceIndex",
    "SentenceIndexBuilder",
    "Source",
    "Tokenizer",
    "cosine_similarity",
    "jaccard_similarity",
    "limit_chunks",
    "limit_hits",
    "relative_scores",
    "render",
]
