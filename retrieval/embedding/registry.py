"""Pick an embedder implementation by name."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from .base import TextEmbedder


def _onnx(**options: Any) -> TextEmbedder:
    from .onnx_embedder import OnnxEmbedder

    return OnnxEmbedder(**options)


def _sentence_transformers(**options: Any) -> TextEmbedder:
    from .reference import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(**options)


IMPLEMENTATIONS: dict[str, Callable[..., TextEmbedder]] = {
    "onnx": _onnx,  # production: onnxruntime, no torch
    "sentence-transformers": _sentence_transformers,  # slow reference (torch)
}


def create_embedder(kind: str = "onnx", **options: Any) -> TextEmbedder:
    """An embedder of ``kind`` ("onnx" or "sentence-transformers") built with ``options``."""
    try:
        factory = IMPLEMENTATIONS[kind]
    except KeyError:
        raise ConfigError(f"embedder must be one of {', '.join(IMPLEMENTATIONS)}, got {kind!r}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"bad option for the {kind} embedder: {exc}") from None
