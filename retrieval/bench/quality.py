"""Retrieval quality metrics (BEIR/pytrec_eval definitions) and the `eval` loop."""

from __future__ import annotations

import math
import time
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CorpusError


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains and log2 discounts, as trec_eval's ndcg_cut."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 100) -> float:
    relevant = {doc for doc, g in relevance.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def percentiles_ms(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds from every sample (no binning)."""
    if not samples_ns:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0}
    values = np.asarray(samples_ns, dtype=np.float64) / 1e6
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def evaluate(
    engine,
    queries: Sequence[tuple[str, str]],
    qrels: Mapping[str, Mapping[str, int]],
    mode: str = "bm25",
    k: int = 100,
    filters: Any = None,
) -> dict:
    """Document-level nDCG@10 and recall@k over the queries that have judgements
    (``filters``: document metadata every ranked document must have, see ``Engine.retrieve``)."""
    judged = [(qid, text) for qid, text in queries if qid in qrels]
    if not judged:  # a mean over nothing would report 0 as if it were a score
        raise CorpusError(f"none of the {len(queries)} queries has a relevance judgement")
    ndcgs, recalls, latencies = [], [], []
    depth = max(k, 10)
    for qid, text in judged:
        t0 = time.perf_counter_ns()
        ranked, _ = engine.search_documents(text, depth, mode, filters=filters)
        latencies.append(time.perf_counter_ns() - t0)
        doc_ids = [doc for doc, _ in ranked]
        ndcgs.append(ndcg_at_k(doc_ids, qrels[qid], 10))
        recalls.append(recall_at_k(doc_ids, qrels[qid], k))
    return {
        "ndcg@10": float(np.mean(ndcgs)),
        f"recall@{k}": float(np.mean(recalls)),
        "queries": len(judged),
        "mode": mode,
        "latency_ms": percentiles_ms(latencies),
    }
