"""The embedder interface every implementation follows, its result type and input checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import QueryError


class EmbeddingInputError(QueryError):
    """Texts given to an embedder are not a non-empty sequence of strings."""


@dataclass(frozen=True)
class EmbedResult:
    """Vectors plus what happened to each text on the way in.

    ``vectors``: float32 [n, dim], L2-normalised, row i for text i. ``tokens``: tokens the model
    saw per text (special tokens included, after truncation). ``truncated``: True where the text
    was longer than ``max_tokens`` and its tail was cut off.
    """

    vectors: np.ndarray
    tokens: np.ndarray
    truncated: np.ndarray

    @property
    def truncated_indices(self) -> list[int]:
        return np.flatnonzero(self.truncated).tolist()


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text, in input order."""

    model_id: str
    dim: int
    max_tokens: int

    @property
    def fingerprint(self) -> str:
        """Identity of everything that decides the vectors; equal fingerprints, equal vectors."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_with_info(self, texts: Sequence[str]) -> EmbedResult: ...

    def describe(self) -> dict[str, Any]: ...


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, or ``EmbeddingInputError`` saying what is wrong with it."""
    if isinstance(texts, (str, bytes)):
        raise EmbeddingInputError("texts must be a sequence of strings, got a single string (wrap it in a list)")
    try:
        items = list(texts)
    except TypeError:
        raise EmbeddingInputError(f"texts must be a sequence of strings, got {type(texts).__name__}") from None
    if not items:
        raise EmbeddingInputError("texts is empty: nothing to embed")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise EmbeddingInputError(f"texts[{i}] must be a string, got {type(text).__name__}")
    return items
