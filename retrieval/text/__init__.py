"""Text analysis: BM25 analyzer, sentence splitter, embedder token counting."""

from __future__ import annotations

from .analyzer import Analyzer
from .sentences import split_sentences
from .stopwords import STOPWORDS_EN
from .tokens import TokenCounter, default_tokenizer_path

__all__ = ["Analyzer", "STOPWORDS_EN", "TokenCounter", "default_tokenizer_path", "split_sentences"]
