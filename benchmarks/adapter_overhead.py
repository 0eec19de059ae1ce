"""What the LangChain adapter adds to a search: ``Engine.search`` against
``RetrievalRetriever.invoke`` on the same bundle, in the same run.

    .venv/bin/python benchmarks/adapter_overhead.py --bundle BUNDLE [--queries Q.jsonl] [--rounds 3]

Queries: ``../shared/data/scifact/queries.jsonl`` unless ``--queries`` names another file.
Per mode (bm25, and hybrid when the bundle has vectors): an untimed pass of both first, then
``--rounds`` passes in which each query runs on both back to back, the order alternating from one
query to the next (the machine's noise and any warm-cache advantage hit both alike). The
query-embedding cache is kept warm by default, so a hybrid query embeds in neither call and
the difference is the adapter's own; ``--embedding-cache cold`` clears it before every call
(each call embeds, as a first-seen query would). Prints p50/p99 of each and their ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from retrieval import Engine
from retrieval.ingest import read_queries
from retrieval.integrations.langchain import RetrievalRetriever

SCIFACT_QUERIES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact" / "queries.jsonl"
MODES = ("bm25", "hybrid")


def timed(search: Callable[[str], Any], query: str) -> float:
    t0 = time.perf_counter_ns()
    search(query)
    return (time.perf_counter_ns() - t0) / 1e6


def compare(engine: Engine, mode: str, queries: list[str], args: argparse.Namespace) -> dict:
    retriever = RetrievalRetriever(engine=engine, k=args.k, mode=mode)
    contenders: dict[str, Callable[[str], Any]] = {
        "engine": lambda q: engine.search(q, k=args.k, mode=mode),
        "langchain": lambda q: retriever.invoke(q),
    }
    cache = engine.view().query_cache if mode != "bm25" else None
    cold = args.embedding_cache == "cold" and cache is not None
    for query in queries:  # warm-up: store columns decoded, query embeddings cached
        for search in contenders.values():
            search(query)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    for _ in range(args.rounds):
        for query in queries:
            order.reverse()
            for name in order:
                if cold:
                    cache.clear()
                times[name].append(timed(contenders[name], query))
    p50 = {name: float(np.percentile(t, 50)) for name, t in times.items()}
    p99 = {name: float(np.percentile(t, 99)) for name, t in times.items()}
    return {
        "engine_p50_ms": round(p50["engine"], 4), "engine_p99_ms": round(p99["engine"], 4),
        "langchain_p50_ms": round(p50["langchain"], 4), "langchain_p99_ms": round(p99["langchain"], 4),
        "p50_ratio": round(p50["langchain"] / p50["engine"], 4),
        "p99_ratio": round(p99["langchain"] / p99["engine"], 4),
        "p50_overhead_ms": round(p50["langchain"] - p50["engine"], 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True, help="a bundle or collection (e.g. SciFact's)")
    parser.add_argument("--queries", default=str(SCIFACT_QUERIES))
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--embedding-cache", choices=("warm", "cold"), default="warm")
    args = parser.parse_args()
    queries = [text for _, text in read_queries(args.queries)]
    with Engine.open(args.bundle) as engine:
        cache = engine.view().query_cache
        if args.embedding_cache == "warm" and cache is not None and cache.capacity < len(queries):
            parser.error(f"the embedding cache holds {cache.capacity} queries, fewer than the {len(queries)} "
                         "given: it cannot stay warm (use --embedding-cache cold or fewer queries)")
        modes = {mode: compare(engine, mode, queries, args) for mode in MODES if mode in engine.modes}
    result = {
        "bundle": args.bundle, "queries": len(queries), "rounds": args.rounds, "k": args.k,
        "embedding_cache": args.embedding_cache, "modes": modes,
        "python": platform.python_version(), "machine": platform.platform(), "cpus": os.cpu_count(),
    }
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
