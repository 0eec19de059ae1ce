"""The production embedder: onnxruntime + ``tokenizers``, no torch anywhere on this path.

Texts are tokenized in one parallel batch (truncated to the model's 256 tokens, special tokens
included), sorted by token length, run in batches bounded both in texts and in padded tokens,
and written back in input order. Sessions are created once; ``embed`` is safe to call from many
threads at once (onnxruntime sessions and the Rust tokenizer both are).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from .base import EmbeddingInputError, EmbedResult, check_texts
from .batching import pad, plan_batches
from .files import MAX_TOKENS, ModelFiles

_ORT_HINT = "pip install onnxruntime"


class OnnxEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised) via onnxruntime.

    ``variant``: "fp32" (matches sentence-transformers to 2e-7 per component) or "int8" (dynamic
    quantization, ~2x faster, mean cosine to fp32 0.99, min 0.97; a vector depends slightly on
    its batch-mates, so an index should be built and queried with one variant).
    ``intra_op_threads``: onnxruntime's intra-op threads (None: its default, one per core).
    ``max_batch`` texts and ``max_batch_tokens`` padded tokens at most per model call. Defaults
    measured on 2 cores: 16 texts was fastest for both abstracts (~240 tokens) and queries (~23
    tokens); 32 was 3-6% slower, 64 10-20% slower (more padding, attention buffers out of cache).
    ``model``: an explicit ``ModelFiles`` (default: ``ensure_model(variant, cache_dir)``).
    ``graph_optimization``: onnxruntime's level: "all" (default), "extended", "basic", "none".
    """

    def __init__(
        self,
        variant: str = "fp32",
        intra_op_threads: int | None = None,
        max_batch: int = 16,
        max_batch_tokens: int = 4096,
        *,
        model: ModelFiles | None = None,
        cache_dir: str | Path | None = None,
        graph_optimization: str = "all",
    ) -> None:
        if intra_op_threads is not None and (not isinstance(intra_op_threads, int) or isinstance(intra_op_threads, bool) or intra_op_threads < 1):
            raise ConfigError(f"embedding.intra_op_threads must be a positive integer or None, got {intra_op_threads!r}")
        _check_batching(max_batch, max_batch_tokens, model.max_tokens if model is not None else MAX_TOKENS)
        if graph_optimization not in _LEVELS:
            raise ConfigError(f"embedding.graph_optimization must be one of {', '.join(_LEVELS)}, got {graph_optimization!r}")
        if model is None:
            from .export import ensure_model

            model = ensure_model(variant, cache_dir)
        elif model.variant != variant:
            raise ConfigError(f"model file is the {model.variant!r} variant, but variant={variant!r} was asked for")
        self.model = model
        self.model_id = model.model_id
        self.variant = model.variant
        self.dim = model.dim
        self.max_tokens = model.max_tokens
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.intra_op_threads = intra_op_threads
        self._tokenizer, self._tokenizer_sha256, self._pad_id = _load_tokenizer(model)
        self._session = _make_session(model.path, intra_op_threads, graph_optimization)
        self._fingerprint = _fingerprint(self._identity())

    # -- identity ---------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        """What decides the vectors, independent of machine and onnxruntime settings."""
        return {
            "model_id": self.model_id,
            "weights_sha256": self.model.weights_sha256,
            "tokenizer_sha256": self._tokenizer_sha256,
            "variant": self.variant,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "pooling": "mean",
            "normalized": True,
        }

    @property
    def fingerprint(self) -> str:
        """sha256 over model id, weights, tokenizer, variant, dim, max_tokens and pooling.

        Stable across machines: the ONNX file's own hash is not in it (the same weights exported
        by another torch version give other bytes but the same vectors), see ``describe()``.
        """
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """Identity for an index bundle's manifest."""
        return {
            **self._identity(),
            "implementation": "onnxruntime",
            "onnx_file": self.model.path.name,
            "onnx_sha256": self.model.sha256,
            "fingerprint": self._fingerprint,
        }

    def with_batching(self, max_batch: int | None = None, max_batch_tokens: int | None = None) -> "OnnxEmbedder":
        """A copy with other batch limits sharing this one's session and tokenizer (cheap)."""
        new_batch = self.max_batch if max_batch is None else max_batch
        new_tokens = self.max_batch_tokens if max_batch_tokens is None else max_batch_tokens
        _check_batching(new_batch, new_tokens, self.max_tokens)
        view = copy.copy(self)
        view.max_batch, view.max_batch_tokens = new_batch, new_tokens
        return view

    # -- embedding --------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dim], L2-normalised, in input order. Long texts are truncated."""
        return self.embed_with_info(texts).vectors

    def embed_with_info(self, texts: Sequence[str]) -> EmbedResult:
        """``embed`` plus per-text token counts and truncation flags."""
        items = check_texts(texts)
        encodings = self._encode(items)
        ids = [e.ids for e in encodings]
        lengths, truncated = _counts(encodings)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for batch in plan_batches(lengths, self.max_batch, self.max_batch_tokens):
            input_ids, mask = pad([ids[i] for i in batch], self._pad_id)
            out[batch] = self._session.run(["embeddings"], {"input_ids": input_ids, "attention_mask": mask})[0]
        return EmbedResult(vectors=out, tokens=lengths, truncated=truncated)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text exactly as the model sees them (special tokens, truncation)."""
        return [e.ids for e in self._encode(check_texts(texts))]

    def token_counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, truncated)`` per text without running the model (see ``EmbedResult``)."""
        return _counts(self._encode(check_texts(texts)))

    def _encode(self, items: list[str]) -> list[Any]:
        encode = getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        try:
            return encode(items)
        except Exception as exc:  # tokenizers raises bare exceptions, e.g. for lone surrogates
            bad = next((i for i, t in enumerate(items) if not _encodable(t)), None)
            where = f"texts[{bad}]" if bad is not None else "a text"
            raise EmbeddingInputError(f"{where} cannot be tokenized: {exc}") from None

    def __repr__(self) -> str:
        return f"OnnxEmbedder(variant={self.variant!r}, intra_op_threads={self.intra_op_threads}, max_batch={self.max_batch}, file={self.model.path.name})"


def _counts(encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    tokens = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    truncated = np.fromiter((bool(e.overflowing) for e in encodings), dtype=bool, count=len(encodings))
    return tokens, truncated


def _check_batching(max_batch: int, max_batch_tokens: int, max_tokens: int) -> None:
    if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
        raise ConfigError(f"embedding.max_batch must be an integer >= 1, got {max_batch!r}")
    if not isinstance(max_batch_tokens, int) or isinstance(max_batch_tokens, bool) or max_batch_tokens < max_tokens:
        raise ConfigError(f"embedding.max_batch_tokens must be an integer >= {max_tokens} (one full-length text), got {max_batch_tokens!r}")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _load_tokenizer(model: ModelFiles):
    try:
        from tokenizers import Tokenizer
    except ImportError:  # pragma: no cover - tokenizers is a core dependency
        raise ConfigError("the embedder needs the tokenizers package: pip install tokenizers") from None
    if model.tokenizer_path is None:
        from ..text.tokens import default_tokenizer_path

        path = default_tokenizer_path()
    else:
        path = Path(model.tokenizer_path)
    try:
        data = path.read_bytes()
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read tokenizer {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise ConfigError(f"cannot load tokenizer {path}: {exc}") from None
    # The packaged tokenizer.json pads and truncates to 128; the model takes 256, unpadded.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=model.max_tokens)
    pad_id = tokenizer.token_to_id("[PAD]")
    return tokenizer, hashlib.sha256(data).hexdigest(), 0 if pad_id is None else pad_id


_LEVELS = ("all", "extended", "basic", "none")


def _make_session(path: Path, intra_op_threads: int | None, level: str):
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f"the embedder needs onnxruntime: {_ORT_HINT}") from None
    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }
    options = ort.SessionOptions()
    options.graph_optimization_level = levels[level]
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ConfigError(f"cannot load the ONNX embedder {path}: {exc}; delete it to re-export") from None


def _fingerprint(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
