"""Corpus ingest: streaming readers, the built-in demo corpus, token-aware chunking."""

from __future__ import annotations

from .chunker import Chunker
from .demo import demo_corpus
from .readers import count_hint, read_corpus, read_qrels, read_queries, read_query_texts

__all__ = ["Chunker", "count_hint", "demo_corpus", "read_corpus", "read_qrels", "read_queries", "read_query_texts"]
