"""The production embedder: onnxruntime + ``tokenizers``, no torch anywhere on this path.

Texts are tokenized in parallel batches (after the model's prompt, truncated to its
``max_seq_length``, special tokens included), sorted by token length, run in batches bounded both
in texts and in padded tokens, pooled as the model's config says, and written back in input
order. Sessions are created once; ``embed`` is safe to call from many threads at once
(onnxruntime sessions and the Rust tokenizer both are).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import ConfigError
from ..ingest.prefetch import prefetch
from .base import EmbeddingInputError, EmbedResult, check_texts
from .batching import pad, plan_batches
from .files import ModelFiles
from .pooling import normalize, pool, pool_spans, token_spans

_ORT_HINT = "pip install onnxruntime"
DEVICES = ("auto", "cpu", "cuda")
# A call with more texts than this tokenizes them in two groups: the first this many (the model
# starts on them at once), the rest tokenized meanwhile and length-sorted together (sorting in
# small groups pads more: ~7% slower builds measured with groups of 1024 of a 4096-chunk window).
FIRST_GROUP = 256
PREFETCH_BATCHES = 4


class OnnxEmbedder:
    """Sentence embeddings from an ONNX encoder via onnxruntime: the packaged all-MiniLM-L6-v2
    (384-d) by default, or any model directory ``spec`` (``model_dir.read_model_dir``).

    ``variant``: "fp32" (matches sentence-transformers to 2e-7 per component) or "int8" (dynamic
    quantization, ~2x faster, mean cosine to fp32 0.99, min 0.97; a vector depends slightly on
    its batch-mates, so an index should be built and queried with one variant).
    ``intra_op_threads``: onnxruntime's intra-op threads (None: its default, one per core).
    ``max_batch`` texts and ``max_batch_tokens`` padded tokens at most per model call. Defaults
    measured on 2 cores: 16 texts was fastest for both abstracts (~240 tokens) and queries (~23
    tokens); 32 was 3-6% slower, 64 10-20% slower (more padding, attention buffers out of cache).
    ``model``: an explicit ``ModelFiles`` (default: ``ensure_model(variant, cache_dir, spec)``).
    ``graph_optimization``: onnxruntime's level: "all" (default), "extended", "basic", "none".
    ``device``: "auto" (CUDA where onnxruntime's CUDA provider is installed, else CPU), "cpu" or "cuda".

    ``embed`` embeds documents (the model's document prompt first), ``embed_queries`` queries
    (its query prompt); ``embed_in_context`` also pools each sentence of each text from the same
    forward pass (``pooling.pool_spans``).
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
        spec: Any = None,
        device: str = "auto",
    ) -> None:
        if intra_op_threads is not None and (not isinstance(intra_op_threads, int) or isinstance(intra_op_threads, bool) or intra_op_threads < 1):
            raise ConfigError(f"embedding.intra_op_threads must be a positive integer or None, got {intra_op_threads!r}")
        if graph_optimization not in _LEVELS:
            raise ConfigError(f"embedding.graph_optimization must be one of {', '.join(_LEVELS)}, got {graph_optimization!r}")
        if device not in DEVICES:
            raise ConfigError(f"embedding.device must be one of {', '.join(DEVICES)}, got {device!r}")
        if model is None:
            from .export import ensure_model

            model = ensure_model(variant, cache_dir, spec)
        elif model.variant != variant:
            raise ConfigError(f"model file is the {model.variant!r} variant, but variant={variant!r} was asked for")
        _check_batching(max_batch, max_batch_tokens, model.max_tokens)
        self.model = model
        self.model_id = model.model_id
        self.variant = model.variant
        self.max_tokens = model.max_tokens
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.intra_op_threads = intra_op_threads
        self._tokenizer, self._tokenizer_sha256, self._pad_id = _load_tokenizer(model)
        self._session, self.provider = _make_session(model.path, intra_op_threads, graph_optimization, device)
        self._inputs = [i.name for i in self._session.get_inputs()]
        self._output, self._token_states = _pick_output(self._session, model.path)
        self.dim = model.dim or self._probe_dim()
        self._fingerprint = _fingerprint(self._identity())

    # -- identity ---------------------------------------------------------------------------

    def _identity(self) -> dict[str, Any]:
        """What decides the vectors, independent of machine and onnxruntime settings."""
        identity: dict[str, Any] = {
            "model_id": self.model_id,
            "weights_sha256": self.model.weights_sha256,
            "tokenizer_sha256": self._tokenizer_sha256,
            "variant": self.variant,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "pooling": self.model.pooling if self._token_states else "in-graph",
            "normalized": self.model.normalize,
        }
        if self.model.custom:  # the packaged default keeps the identity its bundles were built with
            identity["kind"] = "local"
            identity["prompts"] = {"query": self.model.query_prompt, "document": self.model.document_prompt}
            identity["lowercase"] = self.model.lowercase
        return identity

    @property
    def fingerprint(self) -> str:
        """sha256 over model id, weights, tokenizer, variant, dim, max_tokens, pooling and prompts.

        Stable across machines: the ONNX file's own hash is not in it (the same weights exported
        by another torch version give other bytes but the same vectors), see ``describe()``.
        """
        return self._fingerprint

    @property
    def contextual(self) -> bool:
        """Whether ``embed_in_context`` can pool sentences (the graph gives token states)."""
        return self._token_states

    def describe(self) -> dict[str, Any]:
        """Identity for an index bundle's manifest (kind and prompts for every model; the
        packaged default's fingerprint leaves them out, as its bundles always have)."""
        return {
            "kind": "local" if self.model.custom else "packaged",
            "prompts": {"query": self.model.query_prompt, "document": self.model.document_prompt},
            **self._identity(),
            "implementation": "onnxruntime",
            "source": str(self.model.tokenizer_path.parent) if self.model.custom and self.model.tokenizer_path else None,
            "onnx_file": self.model.path.name,
            "onnx_sha256": self.model.sha256,
            "execution_provider": self.provider,
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
        """Documents: float32 [len(texts), dim] in input order. Long texts are truncated."""
        return self.embed_with_info(texts).vectors

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries: as ``embed``, with the model's query prompt in place of its document prompt."""
        return self.embed_with_info(texts, query=True).vectors

    def embed_with_info(self, texts: Sequence[str], query: bool = False) -> EmbedResult:
        """``embed`` (``embed_queries`` when ``query``) plus per-text token counts and truncation flags."""
        items = check_texts(texts)
        out = np.empty((len(items), self.dim), dtype=np.float32)
        lengths = np.zeros(len(items), dtype=np.int64)
        truncated = np.zeros(len(items), dtype=bool)
        for batch, encodings, states, mask in self._forward(items, self._prompt(query)):
            out[batch] = self._pooled(states, mask)
            lengths[batch], truncated[batch] = _counts(encodings)
        return EmbedResult(vectors=out, tokens=lengths, truncated=truncated)

    def embed_in_context(self, texts: Sequence[str], spans: Sequence[Any], shifts: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Documents and their sentences from one forward pass.

        ``spans[i]``: int [n_i, 2] character spans of text i's sentences, ``shifts[i]`` characters
        after the text's start (a title before them). Returns ``(vectors [len(texts), dim],
        sentence_vectors [sum n_i, dim], whole [sum n_i])``: each sentence's unit-norm mean
        state over its tokens and those before the text (prompt, title: ``pooling.pool_spans``),
        in text then span order; ``whole`` is False for a sentence truncation cut (or with no
        token), whose row is zero and must be embedded on its own.
        """
        if not self._token_states:
            raise ConfigError(f"{self.model_id}: the ONNX graph gives pooled vectors, not token states: sentence vectors need embedding.sentence_vectors='separate'")
        items = check_texts(texts)
        spans = [np.asarray(s, dtype=np.int64).reshape(-1, 2) for s in spans]
        shifts = list(shifts) if shifts is not None else [0] * len(items)
        starts = np.concatenate([[0], np.cumsum([len(s) for s in spans])]).astype(np.int64)
        vectors = np.empty((len(items), self.dim), dtype=np.float32)
        sentences = np.zeros((int(starts[-1]), self.dim), dtype=np.float32)
        whole = np.zeros(int(starts[-1]), dtype=bool)
        prompt = self._prompt(False)
        for batch, encodings, states, mask in self._forward(items, prompt, offsets=True):
            vectors[batch] = self._pooled(states, mask)
            for row, (i, encoding) in enumerate(zip(batch.tolist(), encodings)):
                rows, ok, prefix = token_spans(encoding.offsets, encoding.special_tokens_mask, spans[i], len(prompt) + shifts[i])
                pooled = pool_spans(states[row], rows, prefix)
                pooled[~ok] = 0.0
                sentences[starts[i] : starts[i + 1]] = pooled
                whole[starts[i] : starts[i + 1]] = ok
        return vectors, sentences, whole

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per document text exactly as the model sees them (prompt, special tokens, truncation)."""
        return [e.ids for e in self._encode(check_texts(texts), self._prompt(False))]

    def token_counts(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(tokens, truncated)`` per document text without running the model (see ``EmbedResult``)."""
        return _counts(self._encode(check_texts(texts), self._prompt(False)))

    def _prompt(self, query: bool) -> str:
        return self.model.query_prompt if query else self.model.document_prompt

    def _pooled(self, states: np.ndarray, mask: np.ndarray) -> np.ndarray:
        vectors = pool(states, mask, self.model.pooling) if self._token_states else np.asarray(states, dtype=np.float32)
        return normalize(vectors) if self.model.normalize else vectors

    def _forward(self, items: list[str], prompt: str, offsets: bool = False) -> Iterator[tuple[np.ndarray, list[Any], np.ndarray, np.ndarray]]:
        """``(indices, encodings, outputs, mask)`` per model call over ``items``, length-sorted.

        A large call tokenizes and pads in a producer thread (a bounded queue) while the model
        runs: its first ``FIRST_GROUP`` texts, then the rest; the Rust tokenizer and onnxruntime
        both release the GIL.
        """
        n = len(items)
        groups = [list(range(0, FIRST_GROUP)), list(range(FIRST_GROUP, n))] if n > 2 * FIRST_GROUP else [list(range(n))]

        def prepared() -> Iterator[tuple[np.ndarray, list[Any], dict[str, np.ndarray]]]:
            for group in groups:
                encodings = self._encode([items[i] for i in group], prompt, offsets)
                lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
                for batch in plan_batches(lengths, self.max_batch, self.max_batch_tokens):
                    chosen = [encodings[j] for j in batch.tolist()]
                    input_ids, mask = pad([e.ids for e in chosen], self._pad_id)
                    feeds = {"input_ids": input_ids, "attention_mask": mask}
                    if "token_type_ids" in self._inputs:
                        feeds["token_type_ids"] = np.zeros_like(input_ids)
                    yield np.asarray(group, dtype=np.int64)[batch], chosen, feeds

        source = prefetch(prepared(), depth=PREFETCH_BATCHES) if len(groups) > 1 else prepared()
        for indices, encodings, feeds in source:
            states = self._session.run([self._output], feeds)[0]
            yield indices, encodings, states, feeds["attention_mask"]

    def _encode(self, items: list[str], prompt: str = "", offsets: bool = False) -> list[Any]:
        # The fast path leaves out the offsets sentence pooling reads.
        encode = self._tokenizer.encode_batch if offsets else getattr(self._tokenizer, "encode_batch_fast", self._tokenizer.encode_batch)
        if prompt:
            items = [prompt + t for t in items]
        if self.model.lowercase:
            items = [t.lower() for t in items]
        try:
            return encode(items)
        except Exception as exc:  # tokenizers raises bare exceptions, e.g. for lone surrogates
            bad = next((i for i, t in enumerate(items) if not _encodable(t)), None)
            where = f"texts[{bad}]" if bad is not None else "a text"
            raise EmbeddingInputError(f"{where} cannot be tokenized: {exc}") from None

    def _probe_dim(self) -> int:
        for _, _, states, mask in self._forward(["dimension"], ""):
            return int(states.shape[-1])
        raise ConfigError(f"{self.model.path}: the model gave no output")  # pragma: no cover

    def __repr__(self) -> str:
        return f"OnnxEmbedder(model={self.model_id!r}, variant={self.variant!r}, intra_op_threads={self.intra_op_threads}, max_batch={self.max_batch}, file={self.model.path.name})"


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
    padding = tokenizer.padding
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=model.max_tokens)
    return tokenizer, hashlib.sha256(data).hexdigest(), _pad_id(tokenizer, padding, path.parent)


def _pad_id(tokenizer: Any, padding: dict[str, Any] | None, directory: Path) -> int:
    """The id padding uses: tokenizer.json's own, else tokenizer_config.json's pad token, else
    [PAD] or <pad>; masked out either way, but RoBERTa's position ids read it."""
    if padding and isinstance(padding.get("pad_id"), int):
        return int(padding["pad_id"])
    names = ["[PAD]", "<pad>"]
    try:
        token = json.loads((directory / "tokenizer_config.json").read_text(encoding="utf-8")).get("pad_token")
        if isinstance(token, dict):
            token = token.get("content")
        if isinstance(token, str):
            names.insert(0, token)
    except (OSError, ValueError):
        pass
    for name in names:
        found = tokenizer.token_to_id(name)
        if found is not None:
            return int(found)
    return 0


_LEVELS = ("all", "extended", "basic", "none")


def _make_session(path: Path, intra_op_threads: int | None, level: str, device: str = "auto") -> tuple[Any, str]:
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
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not cuda:
        raise ConfigError("embedding.device='cuda' but onnxruntime has no CUDA provider here: pip install onnxruntime-gpu, or use 'auto'")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda and device != "cpu" else ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ConfigError(f"cannot load the ONNX embedder {path}: {exc}; delete it to re-export") from None
    return session, session.get_providers()[0]


def _pick_output(session: Any, path: Path) -> tuple[str, bool]:
    """The graph output to read and whether it is token states ([batch, seq, hidden]) rather than
    pooled vectors ([batch, dim]): ours is ``token_embeddings``; a user's ONNX file may name it
    ``last_hidden_state`` or give pooled vectors."""
    inputs = {i.name for i in session.get_inputs()}
    if not {"input_ids", "attention_mask"} <= inputs <= {"input_ids", "attention_mask", "token_type_ids"}:
        raise ConfigError(f"{path}: the graph's inputs are {sorted(inputs)}; expected input_ids and attention_mask (token_type_ids optional)")
    outputs = {o.name: o for o in session.get_outputs()}
    for name in ("token_embeddings", "last_hidden_state"):
        if name in outputs:
            return name, True
    first = session.get_outputs()[0]
    rank = len(first.shape) if first.shape is not None else 0
    if rank not in (2, 3):
        raise ConfigError(f"{path}: output {first.name!r} has rank {rank}; expected token states [batch, seq, hidden] or vectors [batch, dim]")
    return first.name, rank == 3


def _fingerprint(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
