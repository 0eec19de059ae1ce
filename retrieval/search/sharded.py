"""The planner over a sharded collection: each side fans out to the shards and merges exactly.

Every shard is a bundle with its own ``Planner`` whose BM25 scores with the corpus-wide
statistics (``retrieval.collection.stats``), and chunk ids are mapped to the collection's ids
(the ids one bundle over the same corpus would give). So:

    keyword  each shard's top n, merged by (score desc, collection id asc): the one bundle's top n,
             ids and scores bit for bit (the native top-k breaks ties by smaller id as well)
    dense    each shard's top n, merged the same way (exact with flat indexes; an ANN index
             answers per shard with the call's parameters, so its recall is per shard)
    hybrid   the merged keyword and dense lists, fused once (normalization sees the whole lists)
    prefilter the merged keyword candidates; the dense step scores them exactly when few
             (``exact_max``), else each shard searches its own candidates with an id selector

The mode handlers themselves are ``Planner``'s: only the sides differ. Shards are searched in
parallel threads (the native BM25 and FAISS release the GIL); the calling thread takes one.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from ..config import PrefilterConfig, SearchConfig
from ..tracing import StageClock
from .planner import DenseSide, Planner, keyword_topn
from .prefilter import exact_topk

EMPTY_IDS = np.empty(0, dtype=np.int64)
EMPTY_SCORES = np.empty(0, dtype=np.float64)


class Shard(NamedTuple):
    planner: Planner  # the shard's own, over its local chunk ids
    ids: np.ndarray  # int64, increasing: the collection id of each local chunk
    live: np.ndarray | None = None  # its own live ids (None: all), what the collection's live set means here
    excluded: np.ndarray | None = None  # its own few deleted ids, likewise


class ShardedPlanner(Planner):
    def __init__(
        self,
        shards: Sequence[Shard],
        analyzer: Any,
        dense: DenseSide | None,
        config: SearchConfig,
        pool: ThreadPoolExecutor | None,
        live: np.ndarray | None = None,
        excluded: np.ndarray | None = None,
        workers: int = 0,
    ) -> None:
        """``live``/``excluded``: the collection's live set and few deleted ids (collection ids),
        the very arrays its view passes; each shard then uses its own instead of mapping them."""
        super().__init__(None, dense, config)  # type: ignore[arg-type]  # no single keyword index
        self.shards = tuple(shards)
        self.analyzer = analyzer
        self._pool = pool
        self._workers = workers  # the pool's threads
        self._live = live
        self._excluded = excluded

    def _local_allowed(self, allowed: np.ndarray | None, shard: Shard) -> np.ndarray | None:
        if allowed is not None and allowed is self._live:
            return shard.live
        return to_local(allowed, shard.ids)

    def _local_excluded(self, excluded: np.ndarray | None, shard: Shard) -> np.ndarray | None:
        if excluded is not None and excluded is self._excluded:
            return shard.excluded
        return to_local(excluded, shard.ids)

    # -- the sides, fanned out ------------------------------------------------------------

    def _keyword(
        self, query: str, n: int, clock: StageClock, allowed: np.ndarray | None = None, excluded: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        words = self.analyzer.words(query)  # split once; each shard looks the words up itself
        clock.lap("analyze")

        def one(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
            return shard_keyword(shard, words, n, self._local_allowed(allowed, shard), self._local_excluded(excluded, shard))

        result = merge_top(self._map(one), n)
        clock.lap("bm25")
        return result

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
        if allowed is not None:
            result = self._dense_among(vector, allowed, n, prefilter or self.config.prefilter, params)
            clock.lap("dense")
            return result

        def one(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
            return shard_dense(shard, vector, n, params, self._local_excluded(excluded, shard))

        result = merge_top(self._map(one), n)
        clock.lap("dense")
        return result

    def _dense_among(
        self, vector: np.ndarray, candidates: np.ndarray, k: int, config: PrefilterConfig, params: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self.dense is not None
        cands = np.unique(np.asarray(candidates, dtype=np.int64))
        if cands.size <= config.exact_max:
            # Few: scored exactly over the collection's rows, as one bundle scores them.
            return exact_topk(self.dense.vectors, cands, vector, k)
        per_shard = dataclasses.replace(config, exact_max=0)  # many: each shard's index with a selector

        def one(shard: Shard) -> tuple[np.ndarray, np.ndarray]:
            local = shard.live if candidates is self._live else to_local(cands, shard.ids)
            return shard_dense_among(shard, vector, local, k, per_shard, params)

        return merge_top(self._map(one), k)

    def keyword_batch(self, words: Sequence[list[str]], k: int, n_threads: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
        """BM25 top ``k`` of many queries (already split into words): one native batch per shard,
        each over ``n_threads`` (0: all cores), merged per query."""
        per_shard = [shard_keyword_batch(shard, words, k, n_threads) for shard in self.shards]
        return [merge_top([lists[q] for lists in per_shard], k) for q in range(len(words))]

    def _map(self, work: Callable[[Shard], tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``work`` on every shard, in as many groups as the pool has threads plus this one
        (shards dealt round-robin: no more threads than cores are busy with one query)."""
        if self._pool is None or len(self.shards) == 1:
            return [work(shard) for shard in self.shards]
        groups = min(len(self.shards), self._workers + 1)
        dealt = [self.shards[g::groups] for g in range(groups)]
        futures = [self._pool.submit(lambda part: [work(s) for s in part], part) for part in dealt[1:]]
        results = [work(shard) for shard in dealt[0]]
        for future in futures:
            results.extend(future.result())
        return results


# -- one shard's side of each search (here, or on a shard's own replica: ``retrieval.cluster``) --


def shard_keyword(
    shard: Shard, words: list[str], n: int, allowed: np.ndarray | None, excluded: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """The shard's BM25 top ``n`` (collection ids); ``allowed``/``excluded``: its local ids."""
    if allowed is not None and allowed.size == 0:
        return EMPTY_IDS, EMPTY_SCORES
    keyword = shard.planner.keyword
    ids, scores = keyword_topn(keyword.index, keyword.ids_of_words(words), n, allowed, excluded)
    return shard.ids[ids], scores


def shard_dense(
    shard: Shard, vector: np.ndarray, n: int, params: dict[str, Any], excluded: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    ids, scores = shard.planner._dense(vector, n, params, StageClock(), None, None, excluded)
    return shard.ids[ids], scores


def shard_dense_among(
    shard: Shard, vector: np.ndarray, local: np.ndarray | None, k: int, config: PrefilterConfig, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of the shard's candidates ``local`` (its ids; None: all of its chunks)."""
    if local is None:  # the live set, and this shard has no deletions: all of it
        local = np.arange(len(shard.ids), dtype=np.int64)
    if local.size == 0:
        return EMPTY_IDS, EMPTY_SCORES
    ids, scores = shard.planner._dense_among(vector, local, k, config, params)
    return shard.ids[ids], scores


def shard_keyword_batch(shard: Shard, words: Sequence[list[str]], k: int, n_threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The shard's BM25 top ``k`` of each query (one native batch), as (collection ids, scores)."""
    keyword = shard.planner.keyword
    ids, scores, counts = keyword.search_terms_batch([keyword.ids_of_words(w) for w in words], k, n_threads)
    return [(shard.ids[ids[q, : counts[q]]], scores[q, : counts[q]]) for q in range(len(words))]


def to_local(global_ids: np.ndarray | None, shard_ids: np.ndarray) -> np.ndarray | None:
    """The shard's local ids of those of the sorted ``global_ids`` it holds (sorted), or None."""
    if global_ids is None:
        return None
    if shard_ids.size == 0 or global_ids.size == 0:
        return EMPTY_IDS
    lo, hi = np.searchsorted(global_ids, [shard_ids[0], shard_ids[-1] + 1])
    window = global_ids[lo:hi]
    pos = np.searchsorted(shard_ids, window)
    pos[pos == len(shard_ids)] = 0
    return pos[shard_ids[pos] == window].astype(np.int64)


def merge_top(parts: Sequence[tuple[np.ndarray, np.ndarray]], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``n`` of the shards' lists: score descending, ties by smaller collection id."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return EMPTY_IDS, EMPTY_SCORES
    if len(parts) == 1:
        ids, scores = parts[0]
        return np.asarray(ids, dtype=np.int64)[:n], np.asarray(scores)[:n]
    ids = np.concatenate([np.asarray(p[0], dtype=np.int64) for p in parts])
    scores = np.concatenate([np.asarray(p[1], dtype=np.float64) for p in parts])
    order = np.lexsort((ids, -scores))[:n]
    return ids[order], scores[order]
