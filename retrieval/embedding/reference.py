"""The slow reference: sentence-transformers (torch) on the same packaged weights.

Used by tests and ``retrieval bench embed`` to check the ONNX embedder; not for production (it
imports torch, ~4 s). Its fingerprint equals the fp32 ONNX embedder's: same weights, same
tokenizer, same vectors (measured: cosine ≥ 0.99999 on every test text).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .base import EmbedResult, check_texts
from .files import DIM, INSTALL_HINT, MAX_TOKENS, MODEL_ID, sha256_file, weights_dir


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 through ``sentence_transformers.SentenceTransformer`` (CPU)."""

    model_id = MODEL_ID
    dim = DIM
    max_tokens = MAX_TOKENS
    variant = "fp32"

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        source = weights_dir()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(f"the reference embedder needs sentence-transformers: pip install sentence-transformers ({INSTALL_HINT})") from None
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(source), device="cpu", local_files_only=True)
        self.model.max_seq_length = MAX_TOKENS
        self._identity = {
            "model_id": MODEL_ID,
            "weights_sha256": sha256_file(source / "model.safetensors"),
            "tokenizer_sha256": sha256_file(source / "tokenizer.json"),
            "variant": "fp32",
            "dim": DIM,
            "max_tokens": MAX_TOKENS,
            "pooling": "mean",
            "normalized": True,
        }
        self._fingerprint = hashlib.sha256(json.dumps(self._identity, sort_keys=True).encode("utf-8")).hexdigest()

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {**self._identity, "implementation": "sentence-transformers", "fingerprint": self._fingerprint}

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        items = check_texts(texts)
        vectors = self.model.encode(
            items,
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def embed_with_info(self, texts: Sequence[str]) -> EmbedResult:
        items = check_texts(texts)
        from ..text.tokens import TokenCounter

        counter = TokenCounter()
        lengths = np.array(counter.count_many(items), dtype=np.int64) + counter.special_tokens
        return EmbedResult(vectors=self.embed(items), tokens=np.minimum(lengths, MAX_TOKENS), truncated=lengths > MAX_TOKENS)
