"""BM25 keyword search over the native index."""

from .bm25 import BM25, BM25Builder
from .vocabulary import Vocabulary

__all__ = ["BM25", "BM25Builder", "Vocabulary"]
