"""``mode="auto"`` against bm25 and hybrid: quality and latency, one query at a time, same run.

    .venv/bin/python benchmarks/routing.py --bundle indexes/scifact                       # SciFact test
    .venv/bin/python benchmarks/routing.py --bundle indexes/scifact --split dev           # where the rule was chosen

Each query runs in every mode back to back, the order rotating from one query to the next, with
the query-embedding cache cleared before every call (each dense call embeds, as a first-seen
query would). Quality is document-level nDCG@10 (as ``retrieval eval``); latency is the
``search_documents`` call. Prints per mode nDCG@10, mean/p50/p99 ms, and for auto the share of
queries answered by BM25 alone, with auto's ratios to hybrid (target: nDCG >= 0.99x at mean
latency <= 0.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from retrieval import Engine
from retrieval.bench.quality import ndcg_at_k, trec_order
from retrieval.ingest import read_qrels, read_queries
from retrieval.search.routing import route_of

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
MODES = ("bm25", "hybrid", "auto")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the queries (latency only; quality is per query)")
    args = parser.parse_args()
    if args.split == "test":
        queries, qrels = read_queries(SCIFACT / "queries.jsonl"), read_qrels(SCIFACT / "qrels" / "test.tsv")
    else:
        queries, qrels = read_queries(SCIFACT / "dev" / "queries.jsonl"), read_qrels(SCIFACT / "dev" / "qrels" / "dev.tsv")
    judged = [(qid, text) for qid, text in queries if qid in qrels]
    ndcg: dict[str, dict[str, float]] = {mode: {} for mode in MODES}
    latency: dict[str, list[float]] = {mode: [] for mode in MODES}
    routes: dict[str, str] = {}
    with Engine.open(args.bundle) as engine:
        cache = engine.view().query_cache
        for qid, text in judged[:20]:  # warm-up: store columns, indexes, the model
            for mode in MODES:
                engine.search_documents(text, 100, mode)
        order = list(MODES)
        for _ in range(args.rounds):
            for qid, text in judged:
                order = order[1:] + order[:1]
                for mode in order:
                    if cache is not None:
                        cache.clear()
                    t0 = time.perf_counter_ns()
                    ranked, stages = engine.search_documents(text, 100, mode)
                    latency[mode].append((time.perf_counter_ns() - t0) / 1e6)
                    docs = [doc for doc, _ in trec_order([(d, float(s)) for d, s in ranked])]
                    ndcg[mode][qid] = ndcg_at_k(docs, qrels[qid], 10)
                    if mode == "auto":
                        routes[qid] = route_of(stages) or "?"
    rows = {}
    for mode in MODES:
        lat = np.asarray(latency[mode])
        rows[mode] = {
            "ndcg@10": round(float(np.mean(list(ndcg[mode].values()))), 4),
            "mean_ms": round(float(lat.mean()), 3),
            "p50_ms": round(float(np.percentile(lat, 50)), 3),
            "p99_ms": round(float(np.percentile(lat, 99)), 3),
        }
    share = sum(route == "bm25" for route in routes.values()) / len(routes)
    rows["auto"]["routed_bm25"] = round(share, 4)
    result = {
        "bundle": args.bundle, "split": args.split, "queries": len(judged), "rounds": args.rounds, "modes": rows,
        "auto_vs_hybrid": {
            "ndcg@10": round(rows["auto"]["ndcg@10"] / rows["hybrid"]["ndcg@10"], 4),
            "mean_ms": round(rows["auto"]["mean_ms"] / rows["hybrid"]["mean_ms"], 4),
            "p50_ms": round(rows["auto"]["p50_ms"] / rows["hybrid"]["p50_ms"], 4),
            "p99_ms": round(rows["auto"]["p99_ms"] / rows["hybrid"]["p99_ms"], 4),
        },
        "python": platform.python_version(), "machine": platform.platform(), "cpus": os.cpu_count(),
    }  # fmt: skip
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
