"""retrieval: an optimized RAG retrieval engine.

    from retrieval import Engine
    engine = Engine.build("corpus.jsonl", "indexes/mine")
    result = engine.search("how do I parse json", k=5)

Importing the package is cheap: the engine and its dependencies load on first use.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .lazy import lazy_getattr
from .errors import (
    BundleError,
    ConfigError,
    CorpusError,
    NotFoundError,
    QueryError,
    RetrievalError,
    StoreUnavailableError,
    UpdateConflictError,
)
from .types import Chunk, Document, Hit, SearchResult, StageTimings

if TYPE_CHECKING:
    from .config import AnalyzerConfig, BM25Config, ChunkerConfig, IndexConfig
    from .engine import Engine

__version__ = "0.1.0"

__all__ = [
    "AnalyzerConfig",
    "BM25Config",
    "BundleError",
    "Chunk",
    "ChunkerConfig",
    "ConfigError",
    "CorpusError",
    "Document",
    "Engine",
    "Hit",
    "IndexConfig",
    "NotFoundError",
    "QueryError",
    "RetrievalError",
    "SearchResult",
    "StageTimings",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())

_LAZY = {
    "Engine": ".engine",
    "IndexConfig": ".config",
    "AnalyzerConfig": ".config",
    "ChunkerConfig": ".config",
    "BM25Config": ".config",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
