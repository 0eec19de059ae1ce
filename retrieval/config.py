"""Configuration: one frozen dataclass per component, loaded from dicts or TOML.

Unknown keys are rejected with the list of valid ones, so a typo never silently falls back to a
default; every value is checked against its field's annotation (``config bm25.k1: expected a
number, got 'abc'``) and then against the section's ranges. ``IndexConfig.from_dict`` and
``from_toml`` accept dotted overrides (``{"bm25.k1": 1.2}``) on top of the file.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, TypeVar

from .config_fields import check_fields
from .errors import ConfigError
from .keyword.variants import variant_names
from .vector.registry import available_kinds

T = TypeVar("T")


class _Section:
    """Base of every config dataclass: each field's type is checked against its annotation
    (``retrieval.config_fields``), then the section's own ranges and choices (``_check``)."""

    _name: ClassVar[str] = ""  # the dotted key prefix in messages, e.g. "bm25", "search.fusion"

    def __post_init__(self) -> None:
        check_fields(self, self._name)
        self._check()

    def _check(self) -> None:
        """Ranges and choices beyond the type; nothing by default."""


@dataclass(frozen=True)
class AnalyzerConfig(_Section):
    """How text becomes BM25 terms. Every step can be switched off."""

    _name: ClassVar[str] = "analyzer"

    lowercase: bool = True
    # Unicode word split; the default keeps words of two or more word characters.
    token_pattern: str = r"(?u)\b\w\w+\b"
    stopwords: str | tuple[str, ...] | None = "en"
    stemmer: str | None = "english"

    def _check(self) -> None:
        if isinstance(self.stopwords, list):
            object.__setattr__(self, "stopwords", tuple(self.stopwords))


@dataclass(frozen=True)
class ChunkerConfig(_Section):
    """Sentence-aligned chunking measured in the embedder's tokens."""

    _name: ClassVar[str] = "chunker"

    max_tokens: int = 256  # all-MiniLM-L6-v2's limit, special tokens included
    overlap_sentences: int = 0
    include_title: bool = True  # the title is counted in, and indexed with, every chunk
    # A larger document (title + text) is refused with an error naming it: memory is bounded per
    # tokenizer call, but indexing time is not, and one runaway document should not hide in a build.
    max_document_chars: int = 10_000_000

    def _check(self) -> None:
        if self.max_tokens < 8:
            raise ConfigError(f"chunker.max_tokens must be >= 8, got {self.max_tokens}")
        if self.max_document_chars < 1:
            raise ConfigError(f"chunker.max_document_chars must be >= 1, got {self.max_document_chars}")
        if self.overlap_sentences < 0:
            raise ConfigError(f"chunker.overlap_sentences must be >= 0, got {self.overlap_sentences}")


@dataclass(frozen=True)
class BM25Config(_Section):
    """BM25 scoring. ``okapi`` reproduces rank-bm25's BM25Okapi exactly (epsilon floor included)."""

    _name: ClassVar[str] = "bm25"

    variant: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    epsilon: float = 0.25  # okapi only: negative idf is replaced by epsilon * mean idf

    def _check(self) -> None:
        variants = variant_names()
        if self.variant not in variants:
            raise ConfigError(f"bm25.variant must be one of {', '.join(variants)}, got {self.variant!r}")
        if not self.k1 >= 0:
            raise ConfigError(f"bm25.k1 must be >= 0, got {self.k1}")
        if not 0 <= self.b <= 1:
            raise ConfigError(f"bm25.b must be in [0, 1], got {self.b}")
        if self.epsilon < 0:
            raise ConfigError(f"bm25.epsilon must be >= 0, got {self.epsilon}")


EMBEDDING_VARIANTS = ("fp32", "int8")
EMBEDDING_DEVICES = ("auto", "cpu", "cuda")
DEFAULT_EMBEDDER = "minilm"
SENTENCE_VECTORS = ("contextual", "separate")


@dataclass(frozen=True)
class EmbeddingConfig(_Section):
    """The embedder. A bundle uses one model and one variant throughout: int8 is opt-in, never mixed.

    ``model``: "minilm" (the packaged all-MiniLM-L6-v2, offline), a local sentence-transformers
    or ONNX model directory, or ``openai:MODEL@URL`` (an OpenAI-compatible ``/v1/embeddings``
    endpoint; its key from the environment variable ``api_key_env``, never the manifest).
    ``query_prompt``/``document_prompt``: prepended to queries / to chunks and sentences; empty
    keeps a local model's own prompts (``config_sentence_transformers.json``). ``remote_*``: the
    endpoint's batching (texts and estimated tokens per request), requests in flight, timeout
    and retries. ``device``: "auto" embeds on CUDA where onnxruntime's CUDA provider exists.
    """

    _name: ClassVar[str] = "embedding"

    model: str = DEFAULT_EMBEDDER
    variant: str = "fp32"
    batch_size: int = 16  # measured fastest on 2 cores for abstracts and queries alike
    max_batch_tokens: int = 4096  # padded tokens per batch; at least one full 256-token text
    threads: int = 0  # onnxruntime intra-op threads; 0 = its default (all cores)
    device: str = "auto"
    query_prompt: str = ""
    document_prompt: str = ""
    remote_batch: int = 64
    remote_batch_tokens: int = 8192
    remote_concurrency: int = 4
    remote_timeout_s: float = 30.0
    remote_retries: int = 4
    api_key_env: str = "OPENAI_API_KEY"

    def _check(self) -> None:
        if not self.model.strip():
            raise ConfigError(f"embedding.model must be {DEFAULT_EMBEDDER!r}, a model directory or openai:MODEL@URL, got an empty string")
        if self.variant not in EMBEDDING_VARIANTS:
            raise ConfigError(f"embedding.variant must be one of {', '.join(EMBEDDING_VARIANTS)}, got {self.variant!r}")
        if self.device not in EMBEDDING_DEVICES:
            raise ConfigError(f"embedding.device must be one of {', '.join(EMBEDDING_DEVICES)}, got {self.device!r}")
        if self.batch_size < 1:
            raise ConfigError(f"embedding.batch_size must be >= 1, got {self.batch_size}")
        if self.max_batch_tokens < 256:
            raise ConfigError(f"embedding.max_batch_tokens must be >= 256, got {self.max_batch_tokens}")
        if self.threads < 0:
            raise ConfigError(f"embedding.threads must be >= 0 (0: all cores), got {self.threads}")
        for name in ("remote_batch", "remote_batch_tokens", "remote_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"embedding.{name} must be >= 1, got {getattr(self, name)}")
        if not self.remote_timeout_s > 0:
            raise ConfigError(f"embedding.remote_timeout_s must be > 0, got {self.remote_timeout_s}")
        if self.remote_retries < 0:
            raise ConfigError(f"embedding.remote_retries must be >= 0, got {self.remote_retries}")

    @property
    def is_remote(self) -> bool:
        return self.model.startswith("openai:")


def vector_kinds() -> tuple[str, ...]:
    """What ``vector.kind`` accepts: ``auto`` and every kind in the vector index registry."""
    return ("auto", *available_kinds())


@dataclass(frozen=True)
class VectorConfig(_Section):
    """The FAISS index. ``auto``: exact ``flat`` up to ``auto_flat_max`` vectors, ``hnsw`` above.

    ``params`` are build parameters (M, ef_construction, nlist, m, nbits, ...) and default
    search parameters (ef_search, nprobe); unset ones are derived from the vector count and
    recorded in the manifest.
    """

    _name: ClassVar[str] = "vector"

    kind: str = "auto"
    params: dict = field(default_factory=dict)
    auto_flat_max: int = 50_000

    def _check(self) -> None:
        kinds = vector_kinds()
        if self.kind not in kinds:
            raise ConfigError(f"vector.kind must be one of {', '.join(kinds)}, got {self.kind!r}")
        if self.auto_flat_max < 0:
            raise ConfigError(f"vector.auto_flat_max must be >= 0, got {self.auto_flat_max}")


FUSION_METHODS = ("rrf", "convex")
FUSION_NORMALIZATIONS = ("minmax", "zscore")


@dataclass(frozen=True)
class FusionConfig(_Section):
    """Hybrid search: how the BM25 and dense rankings combine."""

    _name: ClassVar[str] = "search.fusion"

    method: str = "convex"
    normalization: str = "minmax"  # convex only
    dense_weight: float = 0.5  # convex: alpha; rrf: weight of the dense side
    keyword_weight: float = 0.5  # rrf only (convex uses 1 - dense_weight)
    rrf_k: int = 60
    candidates: int = 100  # N: how deep each side is searched before fusing

    def _check(self) -> None:
        if self.method not in FUSION_METHODS:
            raise ConfigError(f"fusion.method must be one of {', '.join(FUSION_METHODS)}, got {self.method!r}")
        if self.normalization not in FUSION_NORMALIZATIONS:
            raise ConfigError(
                f"fusion.normalization must be one of {', '.join(FUSION_NORMALIZATIONS)}, got {self.normalization!r}"
            )
        if not 0.0 <= self.dense_weight <= 1.0 or not 0.0 <= self.keyword_weight <= 1.0:
            raise ConfigError("fusion weights must be in [0, 1]")
        if self.rrf_k < 0:
            raise ConfigError(f"fusion.rrf_k must be >= 0, got {self.rrf_k}")
        if self.candidates < 1:
            raise ConfigError(f"fusion.candidates must be >= 1, got {self.candidates}")


@dataclass(frozen=True)
class PrefilterConfig(_Section):
    """Dense search restricted to the BM25 top-``candidates``.

    Up to ``exact_max`` candidates are scored exactly from the stored vectors; more go through
    FAISS with an id selector.
    """

    _name: ClassVar[str] = "search.prefilter"

    candidates: int = 1000
    exact_max: int = 4096

    def _check(self) -> None:
        if self.candidates < 1 or self.exact_max < 0:
            raise ConfigError("prefilter.candidates must be >= 1 and prefilter.exact_max >= 0")


@dataclass(frozen=True)
class RoutingConfig(_Section):
    """``mode="auto"``: BM25 first, and the dense side only where BM25 is not confident.

    BM25 is confident when its scores fall away fast: the relative spread ``(s_1 - s_depth) /
    s_1`` of its best and ``depth``-th best scores (a missing hit scores 0; no hit at all is never
    confident) is at least ``min_spread``. The BM25 ranking is then the answer; otherwise the query
    goes on to hybrid, its BM25 top-N fused with the vector top-N. Chosen on SciFact dev (405
    queries): spread at 10 >= 0.40 answers 57% of them with BM25 alone, at 0.994 of hybrid's
    nDCG@10 (0.42: 53%, 0.995; 0.35: 68%, 0.981).
    """

    _name: ClassVar[str] = "search.routing"

    min_spread: float = 0.40
    depth: int = 10

    def _check(self) -> None:
        spread = self.min_spread
        if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not 0.0 <= spread <= 1.0:
            raise ConfigError(f"search.routing.min_spread must be a number in [0, 1], got {spread!r}")
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or not 2 <= self.depth <= 1000:
            raise ConfigError(f"search.routing.depth must be an integer in [2, 1000], got {self.depth!r}")


@dataclass(frozen=True)
class SearchConfig(_Section):
    """Query-time defaults, stored in the bundle and overridable per call."""

    _name: ClassVar[str] = "search"

    fusion: FusionConfig = field(default_factory=FusionConfig)
    prefilter: PrefilterConfig = field(default_factory=PrefilterConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)


@dataclass(frozen=True)
class IndexConfig(_Section):
    """Everything that decides what an index bundle contains."""

    _name: ClassVar[str] = ""

    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    chunker: ChunkerConfig = field(default_factory=ChunkerConfig)
    bm25: BM25Config = field(default_factory=BM25Config)
    dense: bool = True  # embeddings + vector index; False builds a keyword-only bundle
    # Sentence spans + fp16 sentence embeddings (``sentences/``) for the context compressor.
    # Dense bundles only (the sentences use the bundle's embedder); ignored when dense is False.
    sentences: bool = True
    # How sentence vectors are made: "separate" embeds every sentence again on its own, after its
    # chunk's title; "contextual" pools each sentence's (and its title's) tokens from its chunk's
    # own forward pass: one model pass per chunk, a dense SciFact build in 0.51x the time, but
    # SQuAD answer retention at 4x lower by 0.004 (questions 1000-1599), 0.009 (1600-2199) and
    # 0.025 (0-299): separate stays the default. A remote embedder gives no token states: separate.
    sentence_vectors: str = "separate"
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    vector: VectorConfig = field(default_factory=VectorConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def _check(self) -> None:
        if self.sentence_vectors not in SENTENCE_VECTORS:
            raise ConfigError(f"sentence_vectors must be one of {', '.join(SENTENCE_VECTORS)}, got {self.sentence_vectors!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> "IndexConfig":
        merged = _apply_overrides(_plain(data), overrides or {})
        return _build(cls, merged, "")

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Mapping[str, Any] | None = None) -> "IndexConfig":
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:  # a directory, no permission, not UTF-8
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        return cls.from_dict(data, overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LimiterConfig(_Section):
    """Which retrieved chunks go on to the compressor (``retrieval.context.limit_chunks``).

    ``min_relative_score``: drop a hit whose score is below this fraction of the best, measured
    from an anchor of ``min(0, lowest score)``: for non-negative scores (BM25) that is plain
    ``score >= f * best``; when scores can be negative (cosine, fused) it becomes the min-max
    position ``(score - lowest) / (best - lowest) >= f``. 0 keeps every hit.
    ``mmr_lambda``: maximal marginal relevance trade-off (1 = rank order by score only, lower
    values push chunks similar to already kept ones down). ``duplicate_threshold``: a chunk
    whose similarity to a kept one reaches this is dropped outright (1.0: only exact copies).
    ``budget_tokens``: total chunk-text tokens kept (None: no limit); ``max_per_document``:
    chunks per document (0: no cap). Measured on SQuAD dev (questions 1000-1599, BM25 top 10,
    then the compressor at a quarter of the top-5 context): answer retention 0.952 with
    ``mmr_lambda`` 1.0, 0.955 with 0.7, 0.957 with 0.5 — within noise, no near duplicates there.
    """

    _name: ClassVar[str] = "limiter"

    budget_tokens: int | None = None
    max_per_document: int = 0
    min_relative_score: float = 0.0
    mmr_lambda: float = 0.7
    duplicate_threshold: float = 0.95

    def _check(self) -> None:
        if self.budget_tokens is not None and self.budget_tokens < 0:
            raise ConfigError(f"limiter.budget_tokens must be an integer >= 0 or none, got {self.budget_tokens!r}")
        if self.max_per_document < 0:
            raise ConfigError(f"limiter.max_per_document must be an integer >= 0 (0: no cap), got {self.max_per_document!r}")
        if not 0.0 <= self.min_relative_score <= 1.0:
            raise ConfigError(f"limiter.min_relative_score must be in [0, 1], got {self.min_relative_score}")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(f"limiter.mmr_lambda must be in [0, 1], got {self.mmr_lambda}")
        if not 0.0 < self.duplicate_threshold <= 1.0:
            raise ConfigError(f"limiter.duplicate_threshold must be in (0, 1], got {self.duplicate_threshold}")


@dataclass(frozen=True)
class CompressorConfig(_Section):
    """Query-aware sentence selection (``retrieval.context.ContextCompressor``).

    A sentence scores ``dense_weight * cosine(query, sentence) + keyword_weight * overlap +
    rank_weight * rank_bonus + chunk_weight * cosine(query, its chunk)``; ``overlap`` is the
    idf-weighted share of the query's distinct terms found in the sentence (0..1),
    ``rank_bonus`` is 1 for the top chunk falling linearly to 0 for the last. The cosines need a
    dense bundle (they count 0 without one). ``redundancy_threshold``: a sentence whose cosine to
    one already selected reaches this is skipped. Sentences are taken best score first (best
    score per token first kept far less: answer retention 0.65 against 0.97 at 4x on SQuAD).
    ``cache_size``: sentences (and chunks) whose token counts and terms are kept. Defaults were
    chosen on SQuAD dev questions 1000-1599, apart from the reported ones
    (see ``retrieval.bench.compress``).
    """

    _name: ClassVar[str] = "compressor"

    dense_weight: float = 1.0
    keyword_weight: float = 0.5
    rank_weight: float = 0.2
    chunk_weight: float = 0.5
    # 0.97, not 0.95: contextual sentence vectors of one chunk are closer to each other, and at
    # 0.95 near-duplicates skipped answer sentences (SQuAD dev 1000-1599, 4x: retention 0.9645 at
    # 0.95, 0.9663 at 0.97; separately embedded sentences 0.9698 at both).
    redundancy_threshold: float = 0.97
    cache_size: int = 200_000

    def _check(self) -> None:
        for name in ("dense_weight", "keyword_weight", "rank_weight", "chunk_weight"):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"compressor.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.redundancy_threshold <= 1.0:
            raise ConfigError(f"compressor.redundancy_threshold must be in (0, 1], got {self.redundancy_threshold}")
        if self.cache_size < 0:
            raise ConfigError(f"compressor.cache_size must be an integer >= 0, got {self.cache_size!r}")


@dataclass(frozen=True)
class ContextConfig(_Section):
    """The context stage after retrieval: chunk limiter, then sentence compressor."""

    _name: ClassVar[str] = ""

    limiter: LimiterConfig = field(default_factory=LimiterConfig)
    compressor: CompressorConfig = field(default_factory=CompressorConfig)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> "ContextConfig":
        merged = _apply_overrides(_plain(data), overrides or {})
        return _build(cls, merged, "")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def _apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for dotted, value in overrides.items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
        node[leaf] = value
    return data


def _build(cls: type[T], data: Mapping[str, Any], prefix: str) -> T:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a table, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; "
            f"valid keys: {', '.join(prefix + k for k in fields)}"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None
        nested = default() if default is not None else None
        if dataclasses.is_dataclass(nested):
            kwargs[name] = _build(type(nested), value, f"{prefix}{name}.")
        else:
            kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"invalid config: {exc}") from None
