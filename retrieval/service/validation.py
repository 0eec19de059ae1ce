"""Request validation: every field checked before any work is queued.

A bad field is a ``QueryError`` naming the field and the allowed values, which the service
returns as INVALID_ARGUMENT. Checks that need the bundle (which modes it has, which per-call
parameters its vector index takes) use ``RequestRules``, built once from the opened engine.
Works on plain values: the protobuf side lives in ``convert.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ..errors import QueryError
from ..search.filters import normalize_filters
from ..search.modes import SEARCH_MODES
from .config import ServiceConfig

MAX_K_FACTOR = 100.0  # ivfpq refinement: k_factor * k exact re-rankings per query

Filters = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class SearchQuery:
    """A validated search: ``params`` use the engine's names (``method``, not ``fusion_method``)."""

    query: str
    k: int
    mode: str
    params: tuple[tuple[str, Any], ...]  # sorted, hashable: part of the result-cache key
    filters: Filters = ()

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def dense(self) -> bool:
        spec = SEARCH_MODES.get(self.mode)
        return spec is not None and spec.needs_dense


@dataclass(frozen=True)
class AnswerQuery:
    question: str
    k: int
    mode: str
    budget_tokens: int
    max_tokens: int
    compress: bool


@dataclass(frozen=True)
class RequestRules:
    """The limits of ``ServiceConfig`` plus what the opened bundle supports."""

    max_query_chars: int
    max_k: int
    default_k: int
    default_mode: str
    modes: tuple[str, ...]
    vector_params: frozenset[str]
    max_candidates: int
    max_batch_queries: int
    answer_default_k: int
    default_budget_tokens: int
    default_answer_tokens: int
    max_answer_tokens: int
    filterable: bool = True  # False for a bundle built before document metadata was stored

    @classmethod
    def for_engine(cls, engine: Any, config: ServiceConfig) -> "RequestRules":
        from ..answer import DEFAULT_BUDGET_TOKENS, DEFAULT_K

        modes = tuple(engine.modes)
        default_mode = config.default_mode or ("hybrid" if "hybrid" in modes else "bm25")
        if default_mode not in modes:
            raise QueryError(f"default mode {default_mode!r} is not available in this bundle (it has {', '.join(modes)})")
        vector_params = engine.view().vector_search_params
        return cls(
            max_query_chars=config.max_query_chars,
            max_k=config.max_k,
            default_k=config.default_k,
            default_mode=default_mode,
            modes=modes,
            vector_params=vector_params,
            max_candidates=config.max_candidates,
            max_batch_queries=config.max_batch_queries,
            answer_default_k=min(DEFAULT_K, config.max_k),
            default_budget_tokens=DEFAULT_BUDGET_TOKENS,
            default_answer_tokens=config.default_answer_tokens,
            max_answer_tokens=config.max_answer_tokens,
            filterable=bool(getattr(getattr(engine, "metadata", None), "available", False)),
        )

    # -- search -------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int,
        mode: str,
        params: Mapping[str, Any],
        filters: Sequence[tuple[str, Sequence[str]]] = (),
    ) -> SearchQuery:
        """A ``SearchQuery`` from request fields; ``k`` 0 and ``mode`` "" mean the defaults."""
        self._text("query", query)
        k = self._k(k, self.default_k)
        mode = self._mode(mode) or self.default_mode
        checked = self._params(mode, params)
        return SearchQuery(query, k, mode, tuple(sorted(checked.items())), self._filters(filters))

    def batch_size(self, n: int) -> None:
        if n > self.max_batch_queries:
            raise QueryError(f"a batch may hold at most {self.max_batch_queries} queries, got {n}")

    # -- answer -------------------------------------------------------------------------------

    def answer(
        self, question: str, k: int, mode: str, budget_tokens: int, max_tokens: int, compress: bool
    ) -> AnswerQuery:
        self._text("question", question)
        k = self._k(k, self.answer_default_k)
        budget = self._count("budget_tokens", budget_tokens, self.default_budget_tokens, 1_000_000)
        tokens = self._count("max_tokens", max_tokens, self.default_answer_tokens, self.max_answer_tokens)
        return AnswerQuery(question, k, self._mode(mode) or self.default_mode, budget, tokens, bool(compress))

    # -- fields -------------------------------------------------------------------------------

    def _text(self, field: str, text: str) -> None:
        if not isinstance(text, str):
            raise QueryError(f"{field} must be a string, got {type(text).__name__}")
        if not text.strip():
            raise QueryError(f"{field} is empty")
        if len(text) > self.max_query_chars:
            raise QueryError(f"{field} is {len(text)} characters long; the limit is {self.max_query_chars}")

    def _k(self, k: int, default: int) -> int:
        if isinstance(k, bool) or not isinstance(k, int):
            raise QueryError(f"k must be an integer, got {k!r}")
        if k == 0:
            return default
        if not 1 <= k <= self.max_k:
            raise QueryError(f"k must be between 1 and {self.max_k} (0 for the default {default}), got {k}")
        return k

    def _mode(self, mode: str) -> str:
        if not mode:
            return ""
        if not isinstance(mode, str) or mode not in SEARCH_MODES:
            raise QueryError(f"unknown mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        if mode not in self.modes:
            raise QueryError(f"mode {mode!r} needs a dense index, and this bundle has none (it has {', '.join(self.modes)})")
        return mode

    def _count(self, field: str, value: int, default: int, maximum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise QueryError(f"{field} must be a non-negative integer, got {value!r}")
        if value == 0:
            return default
        if value > maximum:
            raise QueryError(f"{field} must be at most {maximum}, got {value}")
        return value

    def _filters(self, filters: Sequence[tuple[str, Sequence[str]]]) -> Filters:
        """Canonical filters (AND over keys, IN over values); an empty key, one without values or
        with an empty value (as the CLI's ``--filter key=`` refuses them), or any filter on a
        bundle without stored metadata, is a ``QueryError``."""
        if not filters:
            return ()
        for key, values in filters:
            if not isinstance(key, str) or not key.strip():
                raise QueryError("filters: a filter key must be a non-empty string")
            if not values:
                raise QueryError(f"filters: filter {key!r} needs at least one value")
            if any(isinstance(value, str) and not value.strip() for value in values):
                raise QueryError(f"filters: filter {key!r} has an empty value; every value must be non-empty")
        if not self.filterable:
            raise QueryError(
                "filters: this bundle was built without document metadata (before filters existed): rebuild it to filter"
            )
        return normalize_filters(filters)

    def _params(self, mode: str, params: Mapping[str, Any]) -> dict[str, Any]:
        spec = SEARCH_MODES[mode]  # the mode's own parameters, and its vector index's when it searches one
        allowed = spec.params | (self.vector_params if spec.needs_dense else frozenset())
        for name, value in params.items():
            if name not in allowed:
                takes = ", ".join(sorted(allowed)) or "none"
                raise QueryError(
                    f"search parameter {name!r} does not apply to mode {mode!r} with this bundle (it takes: {takes})"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise QueryError(f"search parameter {name!r} must be a finite number, got {value!r}")
        for name in ("candidates", "ef_search"):
            if name in params and not 1 <= params[name] <= self.max_candidates:
                raise QueryError(f"search parameter {name!r} must be between 1 and {self.max_candidates}, got {params[name]!r}")
        if "k_factor" in params and not 1.0 <= params["k_factor"] <= MAX_K_FACTOR:
            raise QueryError(f"search parameter 'k_factor' must be between 1 and {MAX_K_FACTOR:g}, got {params['k_factor']!r}")
        return dict(params)
