"""The planner of a collection served on Ray Serve: each side fans out to the shard deployments.

It is the collection's ``ShardedPlanner`` with the per-shard work sent through deployment
handles: the requests to every shard go out at once, the answers merge exactly as in one process
(``merge_top``), and the mode handlers (hybrid fusion, the prefilter's candidates) are the same.

Faults: a request whose replica died (killed, its node gone) is sent again, and Serve's router
picks a live replica, so with two or more replicas a shard loses no request. A shard with no
live replica answers nothing; after ``timeout_s`` the search fails with ``ShardUnavailableError``
naming the shard (gRPC UNAVAILABLE), never a partial result.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import ShardUnavailableError
from ..tracing import StageClock
from .call_batcher import CallBatcher
from .fusion import fuse
from .planner import DenseSide
from .prefilter import exact_topk
from .sharded import ShardedPlanner, merge_top

RETRY_PAUSE_S = 0.05
LIVE = "live"  # on the wire: the collection's own live set (or tombstones); each shard uses its own


def call_with_retries(response: Any, resend: Callable[[], Any], what: str, timeout_s: float) -> Any:
    """The result of a deployment ``response``, resent (``resend()``) while its replica died,
    within ``timeout_s`` in all."""
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            return response.result(timeout_s=max(left, 0.001))
        except TimeoutError:
            raise ShardUnavailableError(f"{what} has no live replica (no answer within {timeout_s:g} s); "
                                        "Ray Serve is restoring it: retry") from None
        except (ActorDiedError, ActorUnavailableError, RayActorError):
            if time.monotonic() >= deadline:
                raise ShardUnavailableError(f"{what} has no live replica (its replicas died); Ray Serve is restoring it: retry") from None
            time.sleep(RETRY_PAUSE_S)
            response = resend()


class RemoteShardedPlanner(ShardedPlanner):
    """``planner``'s collection (opened here: vectors for exact scoring, the analyzer, the
    config), its shards searched through ``handles`` (one per shard, in shard order), its
    queries embedded by ``query_embedder`` (None: the collection's own)."""

    def __init__(self, planner: ShardedPlanner, handles: Sequence[Any], names: Sequence[str], timeout_s: float,
                 query_embedder: Any = None) -> None:
        dense = planner.dense
        if dense is not None and query_embedder is not None:
            dense = DenseSide(query_embedder, dense.index, dense.vectors)
        super().__init__(planner.shards, planner.analyzer, dense, planner.config, None,
                         planner._live, planner._excluded, 0)
        self.handles = tuple(handles)
        self.names = tuple(names)
        self.timeout_s = timeout_s
        self._batcher = CallBatcher(self._send_many)

    def _wire(self, ids: np.ndarray | None, own: np.ndarray | None) -> Any:
        """What crosses to a replica for a collection id set: ``LIVE`` for the collection's own."""
        if ids is not None and ids is own:
            return LIVE
        return ids

    def _fan_out(self, method: str, *args: Any) -> list[Any]:
        """``method(*args)`` on every shard (its answers in shard order), in a call shared with
        the searches running at the same time (``call_batcher``)."""
        return self._batcher.submit((method, args))

    def _send_many(self, calls: Sequence[tuple[str, tuple[Any, ...]]]) -> list[list[Any]]:
        sends = [lambda h=h: h.many.remote(list(calls)) for h in self.handles]
        responses = [send() for send in sends]
        per_shard = [call_with_retries(r, send, f"shard {name}", self.timeout_s)
                     for r, send, name in zip(responses, sends, self.names)]
        return [[answers[i] for answers in per_shard] for i in range(len(calls))]

    def _keyword(self, query: str, n: int, clock: StageClock, allowed: np.ndarray | None = None,
                 excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        words = self.analyzer.words(query)
        clock.lap("analyze")
        result = merge_top(self._fan_out("keyword", words, n, self._wire(allowed, self._live),
                                         self._wire(excluded, self._excluded)), n)
        clock.lap("bm25")
        return result

    def _dense(self, vector: np.ndarray, n: int, params: dict[str, Any], clock: StageClock, allowed: np.ndarray | None = None,
               prefilter: Any = None, excluded: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None:
            result = self._dense_among(vector, allowed, n, prefilter or self.config.prefilter, params)
        else:
            result = merge_top(self._fan_out("dense", vector, n, params, self._wire(excluded, self._excluded)), n)
        clock.lap("dense")
        return result

    def _dense_among(self, vector: np.ndarray, candidates: np.ndarray, k: int, config: Any,
                     params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        assert self.dense is not None
        cands = np.unique(np.asarray(candidates, dtype=np.int64))
        if cands.size <= config.exact_max:  # few: scored here over the collection's rows
            return exact_topk(self.dense.vectors, cands, vector, k)
        per_shard = dataclasses.replace(config, exact_max=0)
        wire = LIVE if candidates is self._live else cands
        return merge_top(self._fan_out("dense_among", vector, wire, k, per_shard, params), k)

    def _run_hybrid(self, run: Any) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered hybrid: both sides from each shard in one call (half the round trips);
        merged and fused as ``Planner._run_hybrid`` does. Filtered: the two sides separately."""
        if run.allowed is not None:
            return super()._run_hybrid(run)
        n = max(run.k, run.fusion.candidates)
        words = self.analyzer.words(run.query)
        run.clock.lap("analyze")
        vector = self._embed(run.query, run.clock, run.given)
        sides = self._fan_out("hybrid_sides", words, n, vector, run.vector_params, self._wire(run.excluded, self._excluded))
        keyword = merge_top([s[0] for s in sides], n)
        dense = merge_top([s[1] for s in sides], n)
        run.clock.lap("shards")
        result = fuse(keyword, dense, run.k, run.fusion)
        run.clock.lap("fuse")
        return result

    def keyword_batch(self, words: Sequence[list[str]], k: int, n_threads: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
        per_shard = self._fan_out("keyword_batch", list(words), k, n_threads)
        return [merge_top([lists[q] for lists in per_shard], k) for q in range(len(words))]
