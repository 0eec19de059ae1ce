"""One version of an opened bundle, frozen: everything a search or an answer reads.

An ``Engine`` holds one ``BundleView`` and swaps it in one assignment when it switches versions
(an update through it, or ``refresh()`` after another process committed one). Work that must see
one version throughout takes ``engine.view()`` once and goes through it: the answer path
searches, gathers chunk vectors and compresses with the sentence index and idf of the same view,
so a version switch mid-answer never mixes the rankings of one version with the sentences of
another.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import tracing
from ..errors import QueryError
from ..search import Planner
from ..search.filters import FilterSpec, MetadataIndex, normalize_filters
from ..stores import ChunkStore
from ..tracing import StageClock
from ..types import Hit, SearchResult, StageTimings
from .manifest import Manifest

MAX_K = 10_000
# Up to this many deleted chunks are dropped by asking each ranking for that many more hits
# (exact, and cheap while few); beyond it, searches are restricted to the live ids instead.
EXCLUDE_MAX = 1024

# Metadata filters: {key: value | [values]} or (key, values) pairs; see retrieval.search.filters.
Filters = Mapping[str, Any] | Sequence[Any] | None


def open_version(
    root: Path,
    *,
    verify: bool = True,
    embedder: Any = None,
    embedding_threads: int | None = None,
    store_dsn: str | None = None,
    manifest: Manifest | None = None,
    keyword_stats: Any = None,
) -> "BundleView":
    """The bundle's current version, opened and frozen (see ``Engine.open`` for the arguments).

    ``embedder`` reuses a model already loaded; ``embedding_threads`` overrides the bundle's
    embedder threads per call for this process. ``manifest``: open this version (already read
    and checked) instead of the current one; ``keyword_stats``: see ``open_parts``.
    """
    from .directory import read_manifest
    from .opening import open_parts

    if manifest is None:
        manifest = read_manifest(root, verify=verify)
    config = manifest.index_config
    if embedding_threads is not None:
        config = dataclasses.replace(config, embedding=dataclasses.replace(config.embedding, threads=embedding_threads))
    parts = open_parts(root, manifest, config, embedder=embedder, store_dsn=store_dsn, keyword_stats=keyword_stats)
    planner = Planner(parts.bm25, parts.dense, config.search)
    return BundleView.create(manifest, planner, parts.store, parts.metadata, parts.live, parts.tombstones, parts.sentences)


@dataclass(frozen=True, eq=False)
class BundleView:
    """An opened bundle version (see the module docstring). Thread-safe for concurrent searches."""

    manifest: Manifest
    planner: Planner
    store: ChunkStore
    metadata: MetadataIndex
    # Sorted int64 ids of the live chunks of an updated bundle (deleted ones are tombstones still
    # in the indexes), or None when every chunk is live.
    live: np.ndarray | None
    # Few deleted ids, dropped by over-asking each ranking (None: restrict to ``live`` instead).
    excluded: np.ndarray | None
    sentences: Any  # the compressor's sentence index (dense bundles with sentences), or None
    # The manifest lists every file's sha256, so its digest names the version's contents.
    version: str

    @classmethod
    def create(
        cls,
        manifest: Manifest,
        planner: Planner,
        store: ChunkStore,
        metadata: MetadataIndex,
        live: np.ndarray | None = None,
        tombstones: np.ndarray | None = None,
        sentences: Any = None,
    ) -> "BundleView":
        excluded = None
        if live is not None and tombstones is not None and len(tombstones) <= EXCLUDE_MAX:
            excluded = tombstones
        return cls(manifest, planner, store, metadata, live, excluded, sentences, manifest.digest)

    @property
    def modes(self) -> tuple[str, ...]:
        """The search modes this version supports (dense modes need a dense index)."""
        return self.planner.modes

    @property
    def chunk_vectors(self) -> np.ndarray | None:
        """float32 [chunks, dim] embeddings of every chunk (None for a keyword-only bundle)."""
        dense = self.planner.dense
        return dense.vectors if dense is not None else None

    def query_term_ids(self, query: str) -> Any:
        """The query's BM25 term ids, analyzed as the bundle's text was."""
        return self.planner.keyword.query_ids(query)

    @property
    def idf(self) -> np.ndarray:
        """float64 idf of every term id, from this version's corpus statistics (a copy)."""
        return np.array(self.planner.keyword.index.arrays()["idf"], dtype=np.float64)

    @property
    def query_embedder(self) -> Any:
        """What embeds queries for the dense modes (with its LRU cache), or None."""
        dense = self.planner.dense
        return dense.embedder if dense is not None else None

    @property
    def document_embedder(self) -> Any:
        """The model the bundle's chunks were embedded with (what an update embeds new chunks
        with), or None for a keyword-only bundle."""
        return getattr(self.query_embedder, "embedder", None)

    @property
    def query_cache(self) -> Any:
        """The query-embedding LRU (``stats()``, ``clear()``), or None."""
        return getattr(self.query_embedder, "cache", None)

    @property
    def vector_search_params(self) -> frozenset[str]:
        """Names of the per-call parameters the vector index takes (``ef_search``, ``nprobe``, ...)."""
        dense = self.planner.dense
        return frozenset(dense.index.search_params_schema) if dense is not None else frozenset()

    def retrieve(
        self,
        query: str,
        k: int = 10,
        mode: str = "bm25",
        params: Mapping[str, Any] | None = None,
        query_vector: np.ndarray | None = None,
        filters: Filters = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Chunk ids and scores, best first, without text; plus stage timings (see ``Engine.retrieve``)."""
        check_query(query, k)
        spec = normalize_filters(filters)
        if not spec:
            if self.excluded is not None:
                return self.planner.retrieve(query, int(k), mode, params, query_vector, excluded=self.excluded)
            return self.planner.retrieve(query, int(k), mode, params, query_vector, self.live)
        clock = StageClock()
        allowed = self.metadata.allowed(spec)
        filter_ms = clock.lap("filter")
        ids, scores, stages = self.planner.retrieve(query, int(k), mode, params, query_vector, allowed)
        return ids, scores, {"filter": filter_ms, **stages}

    def routes_to_bm25(self, query: str, filters: Filters = None) -> bool:
        """Where ``mode="auto"`` sends ``query``: True for BM25 alone (see ``search.routing``)."""
        check_query(query, 1)
        spec = normalize_filters(filters)
        if spec:
            return self.planner.routes_to_bm25(query, self.metadata.allowed(spec))
        if self.excluded is not None:
            return self.planner.routes_to_bm25(query, excluded=self.excluded)
        return self.planner.routes_to_bm25(query, self.live)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "bm25",
        params: Mapping[str, Any] | None = None,
        query_vector: np.ndarray | None = None,
        filters: Filters = None,
    ) -> SearchResult:
        """The ``k`` best chunks for ``query`` with their text, best first."""
        with tracing.span("retrieval.search", **{"retrieval.mode": mode, "retrieval.k": k}) as span:
            ids, scores, stages = self.retrieve(query, k, mode, params, query_vector, filters)
            clock = StageClock()
            chunks = self.store.get(ids)
            stages["fetch"] = clock.lap("fetch")
            hits = tuple(
                Hit(chunk=int(i), id=c.id, doc_id=c.doc_id, score=float(s), text=c.text, title=c.title)
                for i, s, c in zip(ids, scores, chunks)
            )
            tracing.set_attributes(span, **{"retrieval.hits": len(hits)})
        return SearchResult(query=query, mode=mode, hits=hits, timings=StageTimings(stages))

    def search_batch(
        self, queries: Sequence[str], k: int = 10, mode: str = "bm25", n_threads: int = 0, filters: Filters = None
    ) -> list[SearchResult]:
        """``search`` for many queries; ``bm25`` without deletions or filters runs as one native batch."""
        for query in queries:
            check_query(query, k)
        if mode != "bm25" or normalize_filters(filters) or self.live is not None:  # deletions: filtered per query
            return [self.search(q, k, mode, filters=filters) for q in queries]
        if not queries:
            return []
        keyword = self.planner.keyword
        t0 = time.perf_counter_ns()
        terms = [keyword.query_ids(q) for q in queries]
        t1 = time.perf_counter_ns()
        ids, scores, counts = keyword.search_terms_batch(terms, k, n_threads)
        t2 = time.perf_counter_ns()
        flat = np.concatenate([ids[i, : counts[i]] for i in range(len(queries))])
        chunks = iter(self.store.get(flat))
        t3 = time.perf_counter_ns()
        n = len(queries)
        stages = StageTimings({"analyze": (t1 - t0) / 1e6 / n, "bm25": (t2 - t1) / 1e6 / n, "fetch": (t3 - t2) / 1e6 / n})
        results = []
        for i, query in enumerate(queries):
            hits = tuple(
                Hit(chunk=int(c), id=chunk.id, doc_id=chunk.doc_id, score=float(s), text=chunk.text, title=chunk.title)
                for c, s, chunk in zip(ids[i, : counts[i]], scores[i, : counts[i]], chunks)
            )
            results.append(SearchResult(query=query, mode=mode, hits=hits, timings=stages))
        return results

    def search_documents(
        self, query: str, k: int = 10, mode: str = "bm25", params: Mapping[str, Any] | None = None, filters: Filters = None
    ) -> tuple[list[tuple[str, float]], dict[str, float]]:
        """The ``k`` best documents, a document scoring as its best chunk."""
        n_chunks = len(self.store)
        want = min(max(k * 2, k + 10), n_chunks, MAX_K)
        while True:
            ids, scores, stages = self.retrieve(query, want, mode, params, None, filters)
            best: dict[str, float] = {}
            for doc_id, score in zip(self.store.doc_ids(ids), scores.tolist()):
                if doc_id not in best:  # chunks come best first, so the first is the doc's best
                    best[doc_id] = score
            # Enough distinct documents, or nothing more to fetch: the ranking is exact.
            if len(best) >= k or len(ids) < want or want >= min(n_chunks, MAX_K):
                return list(best.items())[:k], stages
            want = min(want * 4, n_chunks, MAX_K)

    def allowed_chunks(self, filters: Filters | FilterSpec) -> np.ndarray:
        """Sorted int64 ids of the live chunks whose document matches ``filters`` (read-only, cached)."""
        return self.metadata.allowed(normalize_filters(filters))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """float32 [len(texts), dim] query embeddings in one model call (LRU-cached per text)."""
        dense = self.planner.dense
        if dense is None:
            raise QueryError("this bundle has no dense index (built with --no-dense): nothing to embed queries for")
        embed_many = getattr(dense.embedder, "embed_queries", None)
        vectors = embed_many(texts) if embed_many is not None else dense.embedder.embed(texts)
        return np.array(vectors, dtype=np.float32).reshape(len(texts), -1)


def check_query(query: str, k: int) -> None:
    if not isinstance(query, str):
        raise QueryError(f"query must be a string, got {type(query).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")
