"""The embedder an ``EmbeddingConfig`` names: the packaged MiniLM, a local model directory, or an
OpenAI-compatible endpoint (``embedding.model``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..config import DEFAULT_EMBEDDER, EmbeddingConfig


def from_config(config: EmbeddingConfig, dim: int | None = None) -> Any:
    """An embedder for ``config``; a ``ConfigError`` (one line) when the model cannot be used.
    ``dim``: the dimension a bundle recorded (a remote endpoint is then not asked for it: a bundle
    opens while the endpoint is down, and a changed dimension is caught on the first call)."""
    if config.is_remote:
        from .remote import RemoteEmbedder

        return RemoteEmbedder.from_spec(
            config.model,
            batch_size=config.remote_batch,
            batch_tokens=config.remote_batch_tokens,
            concurrency=config.remote_concurrency,
            timeout_s=config.remote_timeout_s,
            retries=config.remote_retries,
            api_key_env=config.api_key_env,
            query_prompt=config.query_prompt,
            document_prompt=config.document_prompt,
            dim=dim,
        )
    from .onnx_embedder import OnnxEmbedder

    spec = None
    if config.model != DEFAULT_EMBEDDER:
        from .model_dir import read_model_dir

        spec = read_model_dir(Path(config.model))
        prompts = {k: v for k, v in (("query_prompt", config.query_prompt), ("document_prompt", config.document_prompt)) if v}
        spec = dataclasses.replace(spec, **prompts)
    elif config.query_prompt or config.document_prompt:
        from .export import packaged_spec

        spec = dataclasses.replace(packaged_spec(), query_prompt=config.query_prompt, document_prompt=config.document_prompt)
    return OnnxEmbedder(
        variant=config.variant,
        intra_op_threads=config.threads or None,
        max_batch=config.batch_size,
        max_batch_tokens=config.max_batch_tokens,
        spec=spec,
        device=config.device,
    )


def model_reference(model: str) -> str:
    """``embedding.model`` as a bundle records it: a directory as its absolute path, so the bundle
    opens from any working directory."""
    if model == DEFAULT_EMBEDDER or model.startswith("openai:"):
        return model
    return str(Path(model).expanduser().resolve())


def recorded(config: Any) -> Any:
    """``config`` (an ``IndexConfig``) with ``embedding.model`` as the bundle records it."""
    model = model_reference(config.embedding.model)
    if model == config.embedding.model:
        return config
    return dataclasses.replace(config, embedding=dataclasses.replace(config.embedding, model=model))

