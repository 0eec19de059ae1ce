"""One version of an opened collection, frozen: a ``BundleView`` whose parts span the shards.

Everything a bundle view offers works unchanged (search in every mode, filters, deletions,
``search_documents``, the answer path), because its parts speak collection chunk ids: the
planner fans out and merges (``retrieval.search.sharded``), the store, vectors and sentences
dispatch ids to their shards (``parts``). What differs is the corpus vocabulary: query term ids
and idf (what the context compressor scores sentences with) are the collection's own.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..bundle.view import BundleView, Filters, check_query
from ..search.filters import normalize_filters
from ..types import Hit, SearchResult, StageTimings
from .stats import CorpusStats


@dataclass(frozen=True, eq=False)
class CollectionView(BundleView):
    corpus: CorpusStats | None = None
    shard_views: tuple[BundleView, ...] = ()

    @classmethod
    def assemble(cls, manifest: Any, planner: Any, store: Any, metadata: Any, live: Any, sentences: Any,
                 corpus: CorpusStats, shard_views: Sequence[BundleView]) -> "CollectionView":
        excluded = planner._excluded  # the very array the planner maps to each shard's own
        return cls(manifest, planner, store, metadata, live, excluded, sentences, manifest.digest, corpus, tuple(shard_views))

    def query_term_ids(self, query: str) -> Any:
        """The query's term ids in the collection's vocabulary (``idf``'s ids)."""
        assert self.corpus is not None
        return self.corpus.ids(self.planner.analyzer.words(query))

    @functools.cached_property
    def _corpus_idf(self) -> np.ndarray:
        assert self.corpus is not None
        return self.corpus.idf(self.manifest.index_config.bm25)

    @property
    def idf(self) -> np.ndarray:
        """float64 idf of every corpus term id (``query_term_ids``), a copy."""
        return np.array(self._corpus_idf)

    def search_batch(
        self, queries: Sequence[str], k: int = 10, mode: str = "bm25", n_threads: int = 0, filters: Filters = None
    ) -> list[SearchResult]:
        """``search`` for many queries; ``bm25`` without deletions or filters runs as one native
        batch per shard (each over all cores), merged per query."""
        for query in queries:
            check_query(query, k)
        if mode != "bm25" or normalize_filters(filters) or self.live is not None:
            return [self.search(q, k, mode, filters=filters) for q in queries]
        if not queries:
            return []
        t0 = time.perf_counter_ns()
        words = [self.planner.analyzer.words(q) for q in queries]
        t1 = time.perf_counter_ns()
        merged = self.planner.keyword_batch(words, k, n_threads)
        t2 = time.perf_counter_ns()
        chunks = iter(self.store.get(np.concatenate([m[0] for m in merged])))
        t3 = time.perf_counter_ns()
        n = len(queries)
        stages = StageTimings({"analyze": (t1 - t0) / 1e6 / n, "bm25": (t2 - t1) / 1e6 / n, "fetch": (t3 - t2) / 1e6 / n})
        results = []
        for query, (ids, scores) in zip(queries, merged):
            hits = tuple(
                Hit(chunk=int(c), id=chunk.id, doc_id=chunk.doc_id, score=float(s), text=chunk.text, title=chunk.title)
                for c, s, chunk in zip(ids, scores, chunks)
            )
            results.append(SearchResult(query=query, mode=mode, hits=hits, timings=stages))
        return results
