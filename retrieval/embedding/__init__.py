"""Sentence embeddings: a model exported once to ONNX and run with onnxruntime, or a remote endpoint.

- ``from_config(EmbeddingConfig)``: the embedder ``embedding.model`` names: the packaged
  all-MiniLM-L6-v2 (default), a local sentence-transformers or ONNX directory (``model_dir.py``),
  or ``openai:MODEL@URL`` (``RemoteEmbedder``).
- ``ensure_model(variant, spec=None)``: the cached ONNX file (exported from the weights on first
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
    if name == "from_config":  # the config module behind it
        from .choice import from_config

        return from_config
    if name == "RemoteEmbedder":
        from .remote import RemoteEmbedder

        return RemoteEmbedder
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
    "from_config",
    "RemoteEmbedder",
    "default_cache_dir",
    "ensure_model",
]
