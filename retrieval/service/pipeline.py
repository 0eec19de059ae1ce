"""The search path of the service: caches, admission, batched query embedding, the engine.

    Search:       result cache → admission slot (interactive) → embed (micro-batched) →
                  semantic cache (opt-in) → engine.search on a pool thread → caches
    mode auto:    the same, but the embed step only for queries BM25 does not answer alone
                  (``engine.routes_to_bm25``, on a pool thread): the others never wait for the batcher
    SearchBatch:  the same per query, under one batch-priority slot, embeddings batched together

Result-cache keys hold the query, mode, k, parameters, filters and the bundle version (the
manifest's digest), so a rebuilt bundle never serves stale hits. The semantic cache reuses
results when a new query's embedding is within a cosine threshold of a cached query's (same
mode, k, parameters); it needs the embedding, so it sits after the embed step and only in dense
modes. Every stage's time goes into the response and the metrics.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np

from .. import tracing
from ..types import Hit
from .admission import BATCH, INTERACTIVE, Admission
from .caches import result_key, semantic_key
from .validation import SearchQuery
from .workers import CpuPool, check_deadline


@dataclass(frozen=True)
class SearchOutcome:
    hits: tuple[Hit, ...]
    timings_ms: dict[str, float]
    cached: bool


class SearchPipeline:
    def __init__(
        self,
        engine: Any,
        *,
        pool: CpuPool,
        admission: Admission,
        batcher: Any = None,  # MicroBatcher for dense bundles, None for keyword-only ones
        results: Any = None,  # ResultCache, or None (off)
        semantic: Any = None,  # SemanticCache, or None (off)
        metrics: Any = None,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.admission = admission
        self.batcher = batcher
        self.results = results
        self.semantic = semantic
        self.metrics = metrics

    # -- one query ------------------------------------------------------------------------------

    async def search(self, query: SearchQuery, deadline: float | None) -> SearchOutcome:
        started = time.perf_counter_ns()
        cached = self._cached(query, started)
        if cached is not None:
            return cached
        async with self.admission.slot(INTERACTIVE, deadline) as queued_ms:
            timings = {"queue": queued_ms}
            vector = await self._embed(query, deadline, timings) if await self._wants_vector(query, deadline) else None
            reused = self._similar(query, vector, timings)
            if reused is not None:
                return reused
            result = await self.pool.run(lambda: self._engine_search(query, vector), deadline)
        self._store(query, vector, result.hits)
        # The engine skips its own embed stage when given the vector: "embed" is the batcher's.
        return self._outcome(result.hits, {**timings, **result.timings.as_dict()}, False)

    # -- many queries ---------------------------------------------------------------------------

    async def search_many(self, queries: Sequence[SearchQuery], deadline: float | None) -> list[SearchOutcome]:
        """Outcomes in request order; the misses run under one batch-priority slot."""
        started = time.perf_counter_ns()
        outcomes: list[SearchOutcome | None] = [self._cached(q, started) for q in queries]
        todo = [i for i, outcome in enumerate(outcomes) if outcome is None]
        if not todo:
            return outcomes  # type: ignore[return-value]
        async with self.admission.slot(BATCH, deadline) as queued_ms:
            timings = {"queue": queued_ms}
            # All the batch's embeddings are asked for at once: the batcher groups them.
            wanted = await self._wanted_vectors([queries[i] for i in todo], deadline)
            t0 = time.perf_counter_ns()
            vectors = await asyncio.gather(*(self._embed(queries[i], deadline, None) if want else _none()
                                             for i, want in zip(todo, wanted)))  # fmt: skip
            if any(v is not None for v in vectors):
                timings["embed"] = (time.perf_counter_ns() - t0) / 1e6
            runs: list[tuple[int, np.ndarray | None]] = []
            for i, vector in zip(todo, vectors):
                reused = self._similar(queries[i], vector, dict(timings))
                if reused is not None:
                    outcomes[i] = reused
                else:
                    runs.append((i, vector))

            def run_all() -> list[Any]:
                done = []
                for i, vector in runs:
                    check_deadline(deadline, "the batch finished")
                    done.append(self._engine_search(queries[i], vector))
                return done

            results = await self.pool.run(run_all, deadline) if runs else []
        for (i, vector), result in zip(runs, results):
            self._store(queries[i], vector, result.hits)
            outcomes[i] = self._outcome(result.hits, {**timings, **result.timings.as_dict()}, False)
        return outcomes  # type: ignore[return-value]

    # -- steps ----------------------------------------------------------------------------------

    def _cached(self, query: SearchQuery, started_ns: int) -> SearchOutcome | None:
        if self.results is None:
            return None
        hits = self.results.get(self._exact_key(query))
        self._count_cache("result", hits is not None)
        if hits is None:
            return None
        return self._outcome(hits, {"cache": (time.perf_counter_ns() - started_ns) / 1e6}, True)

    async def _wants_vector(self, query: SearchQuery, deadline: float | None) -> bool:
        return (await self._wanted_vectors([query], deadline))[0]

    async def _wanted_vectors(self, queries: Sequence[SearchQuery], deadline: float | None) -> list[bool]:
        """Which queries to embed: dense modes, except auto queries that BM25 answers alone."""
        wanted = [q.dense and self.batcher is not None for q in queries]
        auto = [i for i, q in enumerate(queries) if wanted[i] and q.mode == "auto"]
        if auto:
            def route() -> list[bool]:
                return [self.engine.routes_to_bm25(queries[i].query, queries[i].filters or None) for i in auto]

            for i, to_bm25 in zip(auto, await self.pool.run(route, deadline)):
                wanted[i] = not to_bm25
        return wanted

    async def _embed(self, query: SearchQuery, deadline: float | None, timings: dict[str, float] | None) -> np.ndarray | None:
        assert self.batcher is not None  # _wanted_vectors says no embedding without one
        check_deadline(deadline)
        t0 = time.perf_counter_ns()
        vector = await self.batcher.embed(query.query)
        elapsed = time.perf_counter_ns() - t0
        tracing.record_stage("embed", elapsed)  # the engine is given the vector: this is the embed stage
        if timings is not None:
            timings["embed"] = elapsed / 1e6
        return vector

    def _similar(self, query: SearchQuery, vector: np.ndarray | None, timings: dict[str, float]) -> SearchOutcome | None:
        if self.semantic is None or vector is None:
            return None
        t0 = time.perf_counter_ns()
        hits = self.semantic.lookup(vector, self._semantic_key(query))
        self._count_cache("semantic", hits is not None)
        if hits is None:
            return None
        timings["cache"] = (time.perf_counter_ns() - t0) / 1e6
        return self._outcome(hits, timings, True)

    def _engine_search(self, query: SearchQuery, vector: np.ndarray | None) -> Any:
        return self.engine.search(
            query.query, query.k, query.mode, query.params_dict, query_vector=vector, filters=query.filters or None
        )

    def _store(self, query: SearchQuery, vector: np.ndarray | None, hits: tuple[Hit, ...]) -> None:
        if self.results is not None:
            self.results.put(self._exact_key(query), hits)
        if self.semantic is not None and vector is not None:
            self.semantic.put(vector, self._semantic_key(query), hits)

    def _exact_key(self, query: SearchQuery) -> Hashable:
        return result_key(query.query, query.mode, query.k, query.params_dict, query.filters, self.engine.version)

    def _semantic_key(self, query: SearchQuery) -> Hashable:
        return semantic_key(query.mode, query.k, query.params_dict, query.filters, self.engine.version)

    def _outcome(self, hits: tuple[Hit, ...], timings: dict[str, float], cached: bool) -> SearchOutcome:
        if self.metrics is not None:
            for stage, ms in timings.items():
                self.metrics.stage(stage, ms)
        return SearchOutcome(tuple(hits), timings, cached)

    def _count_cache(self, name: str, hit: bool) -> None:
        if self.metrics is not None:
            self.metrics.cache(name, hit)


async def _none() -> None:
    return None
