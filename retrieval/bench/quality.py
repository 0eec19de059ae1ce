"""Retrieval quality metrics (BEIR/pytrec_eval definitions) and the `eval` loop."""

from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CorpusError
from ..search.routing import route_of


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


def mrr_at_k(ranked: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top k (0 when none), as trec_eval's
    recip_rank over a run cut at k."""
    for rank, doc in enumerate(ranked[:k]):
        if relevance.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def trec_order(ranked: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """``(doc, score)`` pairs in the order trec_eval reads a run: score descending, and among
    equal scores document id descending. Metrics are computed in this order, so they equal
    trec_eval's (pytrec_eval's) on the run file written from it."""
    by_id = sorted(ranked, key=lambda pair: pair[0], reverse=True)
    return sorted(by_id, key=lambda pair: -pair[1])  # stable: equal scores keep the id order

def write_trec_run(path: Any, run: Mapping[str, Sequence[tuple[str, float]]], tag: str) -> None:
    """A TREC run file, ``qid Q0 docid rank score tag`` per line, written atomically (complete or
    absent). Scores keep 17 significant digits, so trec_eval reads the same order."""
    from ..embedding.files import atomic_output

    lines = []
    for qid, ranked in run.items():
        for rank, (doc, score) in enumerate(ranked, 1):
            if any(c.isspace() for c in qid + doc):
                raise CorpusError(f"query {qid!r} or document {doc!r} has whitespace in its id: a TREC run cannot hold it")
            lines.append(f"{qid} Q0 {doc} {rank} {score:.17g} {tag}\n")
    with atomic_output(Path(path)) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")


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
    run_out: Any = None,
) -> dict:
    """Document-level nDCG@10, recall@k, recall@10 and MRR@10 over the queries that have
    judgements (``filters``: document metadata every ranked document must have, see
    ``Engine.retrieve``). Each ranking is read in ``trec_order``; ``run_out``: write the rankings
    there as a TREC run (``write_trec_run``), on which trec_eval gives the same figures."""
    judged = [(qid, text) for qid, text in queries if qid in qrels]
    if not judged:  # a mean over nothing would report 0 as if it were a score
        raise CorpusError(f"none of the {len(queries)} queries has a relevance judgement")
    ndcgs, recalls, recalls10, mrrs, latencies = [], [], [], [], []
    routes: Counter[str] = Counter()  # mode auto: where each query went
    run: dict[str, list[tuple[str, float]]] = {}
    depth = max(k, 10)
    for qid, text in judged:
        t0 = time.perf_counter_ns()
        ranked, stages = engine.search_documents(text, depth, mode, filters=filters)
        latencies.append(time.perf_counter_ns() - t0)
        route = route_of(stages)
        if route is not None:
            routes[route] += 1
        run[qid] = trec_order([(doc, float(score)) for doc, score in ranked])
        doc_ids = [doc for doc, _ in run[qid]]
        ndcgs.append(ndcg_at_k(doc_ids, qrels[qid], 10))
        recalls.append(recall_at_k(doc_ids, qrels[qid], k))
        recalls10.append(recall_at_k(doc_ids, qrels[qid], 10))
        mrrs.append(mrr_at_k(doc_ids, qrels[qid], 10))
    if run_out is not None:
        write_trec_run(run_out, run, f"retrieval-{mode}")
    result = {
        "ndcg@10": float(np.mean(ndcgs)),
        f"recall@{k}": float(np.mean(recalls)),
        "recall@10": float(np.mean(recalls10)),
        "mrr@10": float(np.mean(mrrs)),
        "queries": len(judged),
        "mode": mode,
        "latency_ms": percentiles_ms(latencies),
    }
    if routes:
        result["routed"] = {route: routes[route] / len(judged) for route in ("bm25", "hybrid")}
    return result
