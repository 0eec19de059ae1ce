"""The slow reference: sentence-transformers (torch) on the same packaged weights.

Used by tests and ``retrieval bench embed`` to check the ONNX embedder; not for production (it
imports torch, ~4 s). Its fingerprint equals the fp32 ONNX embedder's: same weights, same
tokenizer, same vectors (measured: cosine ≥ 0.99999 on every test text).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
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

    def __init__(self, batch_size: int = 32, threads: int | None = None, path: str | None = None) -> None:
        source = weights_dir() if path is None else Path(path)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError(f"the reference embedder needs sentence-transformers: pip install sentence-transformers ({INSTALL_HINT})") from None
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(source), device="cpu", local_files_only=True)
        if path is None:
            self.model.max_seq_length = MAX_TOKENS
        else:  # another model: its own name, dimension, length and prompts
            self.model_id = source.name
            self.dim = int(self.model.get_sentence_embedding_dimension())
            self.max_tokens = int(self.model.max_seq_length)
        # The packaged weights are normalised as all-MiniLM-L6-v2's own Normalize module does; another
        # model normalises only if its modules say so (inside encode).
        self._normalize = path is None
        prompts = self.model.prompts or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._document_prompt = next((k for k in ("document", "passage", "corpus", "doc") if k in prompts), None)
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
        """Documents (the model's document prompt, by name, as sentence-transformers applies it)."""
        return self._encode(texts, batch_size, self._document_prompt)

    def embed_queries(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Queries (the model's query prompt)."""
        return self._encode(texts, batch_size, self._query_prompt)

    def _encode(self, texts: Sequence[str], batch_size: int | None, prompt_name: str | None) -> np.ndarray:
        items = check_texts(texts)
        vectors = self.model.encode(
            items,
            batch_size=batch_size or self.batch_size,
            prompt_name=prompt_name,
            normalize_embeddings=self._normalize,
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
