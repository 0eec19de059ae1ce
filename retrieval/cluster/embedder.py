"""The query-embedding Serve deployment: single queries from every front, embedded in batches.

``serve.batch`` gathers concurrent calls (up to ``max_batch`` queries, waiting at most
``max_wait_s`` for batch-mates) into one model call, the dynamic batching the in-process server
does with its ``MicroBatcher``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import numpy as np


def embedding_deployment(serve: Any, max_batch: int, max_wait_s: float) -> Any:
    """The deployment class, its batching configured (``serve.batch`` takes its limits at definition)."""

    class QueryEmbedding:
        def __init__(self, embedding_json: str, threads: int) -> None:
            from ..config import EmbeddingConfig
            from ..dense_index import make_embedder

            config = EmbeddingConfig(**json.loads(embedding_json))
            self.embedder = make_embedder(dataclasses.replace(config, threads=threads))

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=max_wait_s)
        async def embed(self, texts: list[str]) -> list[np.ndarray]:
            vectors = await asyncio.to_thread(self._embed_queries, list(texts))
            return [np.asarray(v, dtype=np.float32) for v in vectors]

        def _embed_queries(self, texts: list[str]) -> np.ndarray:
            return getattr(self.embedder, "embed_queries", self.embedder.embed)(texts)  # the query prompt

        async def __call__(self, text: str) -> np.ndarray:
            return await self.embed(text)

        async def embed_many(self, texts: list[str]) -> np.ndarray:
            """A batch the caller already gathered (the service's micro-batcher): one model call."""
            return await asyncio.to_thread(self._embed_queries, list(texts))

    return QueryEmbedding


class RemoteQueryEmbedder:
    """The view's query embedder with the model calls sent to the deployment (everything else,
    its description and fingerprint, from the local one the collection was opened with)."""

    def __init__(self, local: Any, handle: Any, timeout_s: float) -> None:
        self._local = local
        self._handle = handle
        self._timeout_s = timeout_s
        self.cache = None  # the service's result cache sits in front; no LRU here

    def __getattr__(self, name: str) -> Any:
        return getattr(self._local, name)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """One call for the batch (a single text joins the deployment's dynamic batches)."""
        from ..search.remote import call_with_retries

        if len(texts) == 1:
            send = lambda: self._handle.remote(texts[0])  # noqa: E731
            return np.asarray(call_with_retries(send(), send, "the query embedder", self._timeout_s), dtype=np.float32)[None, :]
        send = lambda: self._handle.embed_many.remote(list(texts))  # noqa: E731
        return np.asarray(call_with_retries(send(), send, "the query embedder", self._timeout_s), dtype=np.float32)
