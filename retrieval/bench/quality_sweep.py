"""`retrieval bench quality`: retrieval quality against latency over the query-time knobs.

For each configuration (mode, prefilter candidates, fusion method, normalization and weight):
nDCG@10 and recall@100 on judged queries, and per-query latency. The query-embedding cache is
cleared before each configuration so every latency includes embedding the query. The Pareto
frontier (no other configuration has both higher nDCG@10 and lower p50) is marked.
"""

from __future__ import annotations

import itertools
import os
import platform
from typing import Any, Callable, Mapping, Sequence

from .quality import evaluate

DEFAULT_GRID: dict[str, Any] = {
    "bm25": [{}],
    "dense": [{}],
    "prefilter": [{"candidates": n} for n in (200, 500, 1000, 3000)],
    "hybrid": [
        {"method": "convex", "normalization": norm, "dense_weight": w}
        for norm, w in itertools.product(("minmax", "zscore"), (0.3, 0.4, 0.5, 0.6, 0.7))
    ]
    + [{"method": "rrf"}],
    "auto": [{}],  # the bundle's routing rule (search.routing): a point with its share routed to BM25
}


class _WithParams:
    """The engine, seen by ``evaluate`` with fixed per-call parameters."""

    def __init__(self, engine: Any, params: Mapping[str, Any]) -> None:
        self._engine, self._params = engine, dict(params)

    def search_documents(self, query: str, k: int, mode: str, filters: Any = None):
        return self._engine.search_documents(query, k, mode, self._params, filters=filters)


def run(
    engine: Any,
    queries: Sequence[tuple[str, str]],
    qrels: Mapping[str, Mapping[str, int]],
    grid: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    k: int = 100,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    grid = grid or DEFAULT_GRID
    rows = []
    for mode, settings in grid.items():
        if mode not in engine.modes:
            continue
        for params in settings:
            _clear_query_cache(engine)
            result = evaluate(_WithParams(engine, params), queries, qrels, mode=mode, k=k)
            row = {
                "mode": mode,
                "params": dict(params),
                "ndcg@10": result["ndcg@10"],
                f"recall@{k}": result[f"recall@{k}"],
                "p50_ms": result["latency_ms"]["p50"],
                "p95_ms": result["latency_ms"]["p95"],
                "p99_ms": result["latency_ms"]["p99"],
                "queries": result["queries"],
            }
            if "routed" in result:
                row["routed_bm25"] = result["routed"]["bm25"]
            rows.append(row)
            if progress:
                progress(f"{mode} {params}: nDCG@10 {row['ndcg@10']:.4f}, p50 {row['p50_ms']:.2f} ms")
    frontier = pareto_front(rows)
    for i, row in enumerate(rows):
        row["pareto"] = i in frontier
    return {
        "rows": rows,
        "best": max(rows, key=lambda r: r["ndcg@10"]) if rows else None,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }


def pareto_front(rows: Sequence[Mapping[str, Any]], quality: str = "ndcg@10", cost: str = "p50_ms") -> set[int]:
    """Indices of rows no other row beats on both quality (higher) and cost (lower)."""
    front = set()
    for i, a in enumerate(rows):
        dominated = any(
            b[quality] >= a[quality] and b[cost] <= a[cost] and (b[quality] > a[quality] or b[cost] < a[cost])
            for j, b in enumerate(rows)
            if j != i
        )
        if not dominated:
            front.add(i)
    return front


def _clear_query_cache(engine: Any) -> None:
    cache = engine.view().query_cache
    if cache is not None:
        cache.clear()
