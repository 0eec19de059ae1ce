"""Sentence embeddings: all-MiniLM-L6-v2 exported once to ONNX, run with onnxruntime.

- ``ensure_model(variant)``: the cached ONNX file (exported from the packaged weights on first
  use; torch is imported only then).
- ``Embedder`` (= ``OnnxEmbedder``): batched, length-sorted, truncating, thread-safe; no torch.
- ``CachedEmbedder`` / ``EmbeddingCache``: LRU for query embeddings.
- ``SentenceTransformerEmbedder``: the slow reference the tests and benchmarks compare with.

Importing this package loads numpy only; onnxruntime and tokenizers load when an embedder is built.
"""

from __future__ import annotations

from .base import EmbeddingInputError, EmbedResult, TextEmbedder
from .cache import CachedEmbedder, CacheStats, EmbeddingCache
from .export import ExportError, ensure_model
from .files import DIM, MAX_TOKENS, MODEL_ID, VARIANTS, ModelFiles, default_cache_dir
from .onnx_embedder import OnnxEmbedder
from .registry import create_embedder

Embedder = OnnxEmbedder


def __getattr__(name: str):
    if name == "SentenceTransformerEmbedder":  # torch behind it: load on first use only
        from .reference import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DIM",
    "MAX_TOKENS",
    "MODEL_ID",
    "VARIANTS",
    "CacheStats",
    "CachedEmbedder",
    "EmbedResult",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingInputError",
    "ExportError",
    "ModelFiles",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "TextEmbedder",
    "create_embedder",
    "default_cache_dir",
    "ensure_model",
]
