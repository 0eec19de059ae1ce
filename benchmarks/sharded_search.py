"""A sharded collection against one bundle of the same corpus, in the same run.

    # one query at a time, every mode: p50/p99 of the collection and of the bundle, interleaved
    .venv/bin/python benchmarks/sharded_search.py latency BUNDLE COLLECTION --queries Q.jsonl
    # search_batch throughput (bm25) of each bundle or collection given
    .venv/bin/python benchmarks/sharded_search.py batch DIR [DIR ...] --queries Q.jsonl [--batch 256]

Latency: an untimed pass per mode first, then ``--repeats`` passes in which each query runs on
the bundle and on the collection back to back (the machine's noise hits both alike); the query
embedding is computed per call in both (the embedder's LRU is cleared before each pass). Batch:
the queries in batches of ``--batch``, q/s from the fastest of ``--repeats`` passes.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from retrieval import Engine
from retrieval.ingest import read_queries


def latency(args: argparse.Namespace, queries: list[str]) -> dict:
    one, sharded = Engine.open(args.dirs[0]), Engine.open(args.dirs[1])
    rows = {}
    for mode in [m for m in ("bm25", "dense", "hybrid", "prefilter") if m in one.modes]:
        for query in queries:
            one.search(query, k=args.k, mode=mode)
            sharded.search(query, k=args.k, mode=mode)
        times: dict[str, list[float]] = {"bundle": [], "collection": []}
        for _ in range(args.repeats):
            for engine in (one, sharded):
                if engine.view().query_cache is not None:
                    engine.view().query_cache.clear()
            for query in queries:
                for name, engine in (("bundle", one), ("collection", sharded)):
                    t0 = time.perf_counter_ns()
                    engine.search(query, k=args.k, mode=mode)
                    times[name].append((time.perf_counter_ns() - t0) / 1e6)
        p50 = {n: float(np.percentile(t, 50)) for n, t in times.items()}
        p99 = {n: float(np.percentile(t, 99)) for n, t in times.items()}
        rows[mode] = {
            "bundle_p50_ms": round(p50["bundle"], 4), "bundle_p99_ms": round(p99["bundle"], 4),
            "collection_p50_ms": round(p50["collection"], 4), "collection_p99_ms": round(p99["collection"], 4),
            "p50_overhead": round(p50["collection"] / p50["bundle"] - 1, 4),
            "p99_overhead": round(p99["collection"] / p99["bundle"] - 1, 4),
        }
    return {"shards": len(sharded.manifest.shards), "chunks": one.counts["chunks"], "modes": rows}


def batch(args: argparse.Namespace, queries: list[str]) -> dict:
    rows = []
    for directory in args.dirs:
        with Engine.open(directory, verify=False) as engine:
            shards = len(getattr(engine.manifest, "shards", ())) or 1
            batches = [queries[i : i + args.batch] for i in range(0, len(queries), args.batch)]
            for part in batches:  # warm: caches filled, store columns decoded
                engine.search_batch(part, k=args.k)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                for part in batches:
                    engine.search_batch(part, k=args.k)
                best = min(best, time.perf_counter() - t0)
            rows.append({"dir": directory, "shards": shards, "chunks": engine.counts["chunks"],
                         "batch_qps": round(len(queries) / best, 1)})
    return {"rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("latency", "batch"))
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--queries", required=True)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    queries = [text for _, text in read_queries(args.queries)]
    result = (latency if args.what == "latency" else batch)(args, queries)
    result.update({"queries": len(queries), "machine": platform.platform(), "cpus": __import__("os").cpu_count()})
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
