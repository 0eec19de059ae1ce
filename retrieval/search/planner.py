"""The query planner: one query, one mode, the stages it needs, timed.

    bm25       analyze → BM25 top-k
    dense      embed → vector index top-k
    hybrid     BM25 top-N and vector top-N → fusion → top-k
    prefilter  BM25 top-N candidates → dense search restricted to them → top-k
    auto       BM25 top-N → route: its top-k (bm25's result), or on as hybrid (hybrid's result)

Per-call parameters: the planner's own (``candidates``, the fusion fields, ``exact_max``) and the
vector index's (``ef_search``, ``nprobe``, ``k_factor``), which it validates itself. Nothing here
mutates shared state, so concurrent queries with different parameters do not interfere.

``excluded`` (sorted int64 chunk ids: a few deleted chunks of an updated bundle) are dropped from
every mode by asking each ranking for that many more hits, which keeps the top k exact.

``allowed`` (sorted int64 chunk ids, from a metadata filter) restricts every mode to those chunks
before scoring: BM25 keeps the top hits among them exactly, dense search goes through the
prefilter machinery (exact scoring for few ids, an id selector for many), hybrid restricts both
sides, prefilter takes its BM25 candidates among them.

A caller that embeds queries itself (the service batches many queries into one model call) passes
``query_vector``; the dense modes then skip the embed stage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Protocol

import numpy as np

from ..config import FusionConfig, PrefilterConfig, SearchConfig
from ..errors import ConfigError, QueryError
from ..tracing import StageClock
from .fusion import fuse
from .modes import FUSION_PARAMS, PREFILTER_PARAMS, SEARCH_MODES, available_modes
from .prefilter import prefilter_search
from .routing import ROUTE_BM25, ROUTE_HYBRID, stays_with_bm25

if TYPE_CHECKING:
    from ..keyword import BM25, KeywordIndex
    from ..vector import VectorIndex

__all__ = ["FUSION_PARAMS", "MODE_HANDLERS", "PREFILTER_PARAMS", "DenseSide", "Planner", "check_query_vector"]


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class DenseSide:
    """What dense modes need: the embedder, the vector index, and the stored vectors."""

    embedder: QueryEmbedder
    index: "VectorIndex"
    vectors: np.ndarray  # [n_chunks, dim] float32, row == chunk id (memory-mapped)


class Planner:
    def __init__(self, keyword: "BM25", dense: DenseSide | None, config: SearchConfig = SearchConfig()) -> None:
        self.keyword = keyword
        self.dense = dense
        self.config = config

    @property
    def modes(self) -> tuple[str, ...]:
        return available_modes(self.dense is not None)

    def retrieve(
        self,
        query: str,
        k: int,
        mode: str = "bm25",
        params: Mapping[str, Any] | None = None,
        query_vector: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Chunk ids and scores, best first, and the milliseconds each stage took.

        ``allowed``: sorted distinct int64 chunk ids; only these may be returned (None: all).
        ``excluded``: sorted distinct int64 chunk ids never returned (with ``allowed`` None).

        ``query_vector``: the query's embedding ([dim] or [1, dim], float, finite), used by the
        dense modes instead of embedding ``query`` (no "embed" stage then); ``bm25`` ignores it.
        """
        spec = SEARCH_MODES.get(mode) if isinstance(mode, str) else None
        if spec is None:
            raise QueryError(f"unknown mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}")
        if spec.needs_dense and self.dense is None:
            raise QueryError(f"mode {mode!r} needs a dense index, and this bundle has none (built with --no-dense)")
        given = None
        if spec.needs_dense and query_vector is not None:
            assert self.dense is not None  # checked just above
            given = check_query_vector(query_vector, int(self.dense.vectors.shape[1]))
        fusion, prefilter, vector_params = self._split(params or {})
        clock = StageClock()
        if allowed is not None and allowed.size == 0:  # the filter matched nothing
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), clock.stages
        if excluded is not None and excluded.size == 0:
            excluded = None
        run = _Run(query, k, given, fusion, prefilter, vector_params, clock, allowed, excluded)
        ids, scores = getattr(self, MODE_HANDLERS[mode])(run)
        return ids, np.asarray(scores, dtype=np.float64), clock.stages

    # ----------------------------------------------------------------------- one handler per mode

    def _run_bm25(self, run: "_Run") -> tuple[np.ndarray, np.ndarray]:
        return self._keyword(run.query, run.k, run.clock, run.allowed, run.excluded)

    def _run_dense(self, run: "_Run") -> tuple[np.ndarray, np.ndarray]:
        vector = self._embed(run.query, run.clock, run.given)
        return self._dense(vector, run.k, run.vector_params, run.clock, run.allowed, run.prefilter, run.excluded)

    def _run_hybrid(self, run: "_Run") -> tuple[np.ndarray, np.ndarray]:
        n = max(run.k, run.fusion.candidates)
        keyword = self._keyword(run.query, n, run.clock, run.allowed, run.excluded)
        return self._fused(keyword, n, run)

    def _run_auto(self, run: "_Run") -> tuple[np.ndarray, np.ndarray]:
        # Deep enough for the rule; the prefixes are what bm25 and hybrid would have computed.
        n = max(run.k, run.fusion.candidates)
        ids, scores = self._keyword(run.query, max(n, self.config.routing.depth), run.clock, run.allowed, run.excluded)
        if stays_with_bm25(scores, self.config.routing):
            run.clock.lap(ROUTE_BM25)
            return ids[: run.k], scores[: run.k]
        run.clock.lap(ROUTE_HYBRID)
        return self._fused((ids[:n], scores[:n]), n, run)

    def _fused(self, keyword: tuple[np.ndarray, np.ndarray], n: int, run: "_Run") -> tuple[np.ndarray, np.ndarray]:
        """Hybrid after its BM25 side: the vector top-``n``, fused with ``keyword``."""
        vector = self._embed(run.query, run.clock, run.given)
        dense = self._dense(vector, n, run.vector_params, run.clock, run.allowed, run.prefilter, run.excluded)
        result = fuse(keyword, dense, run.k, run.fusion)
        run.clock.lap("fuse")
        return result

    def routes_to_bm25(
        self, query: str, allowed: np.ndarray | None = None, excluded: np.ndarray | None = None
    ) -> bool:
        """Where ``mode="auto"`` sends ``query``: True for BM25 alone (nothing to embed)."""
        depth = self.config.routing.depth
        if allowed is not None and allowed.size == 0:
            return True  # the filter matched nothing: auto returns nothing without embedding
        _, scores = self._keyword(query, depth, StageClock(), allowed, excluded)
        return stays_with_bm25(scores, self.config.routing)

    def _run_prefilter(self, run: "_Run") -> tuple[np.ndarray, np.ndarray]:
        n = max(run.k, run.prefilter.candidates)
        candidates, _ = self._keyword(run.query, n, run.clock, run.allowed, run.excluded)
        vector = self._embed(run.query, run.clock, run.given)
        ids, scores = self._dense_among(vector, candidates, run.k, run.prefilter, run.vector_params)
        run.clock.lap("dense")
        return ids, scores

    def _keyword(
        self,
        query: str,
        n: int,
        clock: StageClock,
        allowed: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        terms = self.keyword.query_ids(query)
        clock.lap("analyze")
        result = keyword_topn(self.keyword.index, terms, n, allowed, excluded)
        clock.lap("bm25")
        return result

    def _embed(self, query: str, clock: StageClock, given: np.ndarray | None = None) -> np.ndarray:
        if given is not None:
            return given
        assert self.dense is not None
        vector = self.dense.embedder.embed_query(query)
        clock.lap("embed")
        return vector

    def _dense(
        self,
        vector: np.ndarray,
        n: int,
        params: dict[str, Any],
        clock: StageClock,
        allowed: np.ndarray | None = None,
        prefilter: PrefilterConfig | None = None,
        excluded: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self.dense is not None
        if allowed is not None:
            ids, scores = self._dense_among(vector, allowed, n, prefilter or self.config.prefilter, params)
            clock.lap("dense")
            return ids, scores
        extra = 0 if excluded is None else len(excluded)
        scores, ids = self.dense.index.search(vector[None, :], min(n + extra, self.dense.index.ntotal), params=params)
        clock.lap("dense")
        keep = ids[0] >= 0
        if excluded is not None:
            keep &= ~sorted_member(excluded, ids[0])
        return ids[0][keep][:n], scores[0][keep][:n]

    def _dense_among(
        self, vector: np.ndarray, candidates: np.ndarray, k: int, config: PrefilterConfig, params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dense top-``k`` restricted to ``candidates`` (chunk ids): prefilter and filtered dense."""
        assert self.dense is not None
        ids, scores, _ = prefilter_search(vector, candidates, k, self.dense.vectors, self.dense.index, config, params)
        return ids, scores

    def _split(self, params: Mapping[str, Any]) -> tuple[FusionConfig, PrefilterConfig, dict[str, Any]]:
        """Per-call overrides of the fusion and prefilter configs; the rest goes to the index."""
        fusion = {k: v for k, v in params.items() if k in FUSION_PARAMS}
        prefilter = {k: v for k, v in params.items() if k in PREFILTER_PARAMS}
        if "candidates" in params:
            prefilter["candidates"] = params["candidates"]
        vector = {k: v for k, v in params.items() if k not in FUSION_PARAMS and k not in PREFILTER_PARAMS}
        try:
            return (
                dataclasses.replace(self.config.fusion, **fusion),
                dataclasses.replace(self.config.prefilter, **prefilter),
                vector,
            )
        except (ConfigError, TypeError) as exc:
            raise QueryError(f"invalid search parameter: {exc}") from None



# mode name (retrieval.search.modes) -> its handler's name (looked up on the planner, so a
# subclass may override one); a test checks both list the same modes
MODE_HANDLERS = {
    "bm25": "_run_bm25",
    "dense": "_run_dense",
    "hybrid": "_run_hybrid",
    "prefilter": "_run_prefilter",
    "auto": "_run_auto",
}


class _Run(NamedTuple):
    """One query's inputs, as every mode handler takes them (a tuple: cheap to make per query)."""

    query: str
    k: int
    given: np.ndarray | None  # the caller's query vector, checked (None: embed the query)
    fusion: FusionConfig
    prefilter: PrefilterConfig
    vector_params: dict[str, Any]
    clock: StageClock
    allowed: np.ndarray | None
    excluded: np.ndarray | None


def keyword_topn(
    index: "KeywordIndex", terms: np.ndarray, n: int, allowed: np.ndarray | None = None, excluded: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """BM25's top ``n`` (best first, ties by smaller id), among ``allowed`` or without ``excluded``."""
    if allowed is not None:
        return keyword_topk_allowed(index, terms, n, allowed)
    if excluded is not None:
        # At most len(excluded) of the top n + len(excluded) are dropped: the top n stays exact.
        ids, scores = index.topk(terms, min(n + len(excluded), int(index.n_docs)))
        keep = ~sorted_member(excluded, ids)
        return ids[keep][:n], scores[keep][:n]
    return index.topk(terms, n)


def keyword_topk_allowed(index: "KeywordIndex", terms: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BM25's top ``k`` among the ``allowed`` chunks (sorted int64), exactly as filtering the full
    ranking would give (best first, ties by smaller id, only chunks sharing a query term).

    Asks the native top-k for more and more hits, keeping the allowed ones, until ``k`` are
    found or the ranking is exhausted; the first request is sized by the allowed fraction. When
    that would reach a large share of the corpus, scores the allowed matching chunks directly.
    """
    n_docs = int(index.n_docs)
    if terms.size == 0 or allowed.size == 0 or k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    want = min(n_docs, max(4 * k, int(2 * k * n_docs / allowed.size)))
    while want <= n_docs // 4 or want == n_docs:
        ids, scores = index.topk(terms, want)
        keep = sorted_member(allowed, ids)
        if int(keep.sum()) >= k or len(ids) < want or want >= n_docs:  # enough, or exhausted
            return ids[keep][:k], scores[keep][:k]
        want = min(n_docs, want * 4)
    cands = np.intersect1d(index.matching(terms), allowed, assume_unique=True)
    scores = np.asarray(index.scores(terms))[cands]
    order = np.lexsort((cands, -scores))[:k]
    return cands[order].astype(np.int64), scores[order]


def sorted_member(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Which of ``ids`` are in ``sorted_ids`` (sorted, distinct): O(len(ids) log n), no sort of n."""
    if sorted_ids.size == 0:
        return np.zeros(len(ids), dtype=bool)
    pos = np.searchsorted(sorted_ids, ids)
    pos[pos == len(sorted_ids)] = 0
    return sorted_ids[pos] == ids


def check_query_vector(vector: Any, dim: int) -> np.ndarray:
    """``vector`` as a contiguous float32 [dim] array, or ``QueryError`` saying what is wrong."""
    try:
        array = np.asarray(vector)
    except (TypeError, ValueError) as exc:
        raise QueryError(f"query_vector must be a float array of shape [{dim}]: {exc}") from None
    if not np.issubdtype(array.dtype, np.floating):
        raise QueryError(f"query_vector must hold floats, got dtype {array.dtype}")
    if array.shape not in ((dim,), (1, dim)):
        raise QueryError(f"query_vector must have shape [{dim}] or [1, {dim}], got {list(array.shape)}")
    with np.errstate(over="ignore"):  # reported below as a QueryError, not a warning
        array = np.ascontiguousarray(array.reshape(dim), dtype=np.float32)
    # After the cast: a float64 beyond float32's range becomes inf, which FAISS would rank as garbage.
    if not np.isfinite(array).all():
        raise QueryError("query_vector holds NaN or infinite values")
    return array
