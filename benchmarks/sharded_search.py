"""A sharded collection against one bundle of the same corpus, in the same run.

    # one query at a time, every mode: p50/p99 of the collection and of the bundle, interleaved
    .venv/bin/python benchmarks/sharded_search.py latency BUNDLE COLLECTION --queries Q.jsonl
    # search_batch throughput (bm25) of each bundle or collection given
    .venv/bin/python benchmarks/sharded_search.py batch DIR [DIR ...] --queries Q.jsonl [--batch 256]
    # recall@10 against exact: an HNSW/IVF index over the corpus vs one per shard (flat dirs given)
    .venv/bin/python benchmarks/sharded_search.py ann BUNDLE COLLECTION --queries Q.jsonl

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


def ann(args: argparse.Namespace, queries: list[str]) -> dict:
    """Recall@k against exact search of an ANN index over the whole corpus vs one per shard
    (each shard searched with the same parameter, the top lists merged), from the vectors of a
    flat bundle and a flat collection of the same corpus (nothing is re-embedded)."""
    from retrieval.search.sharded import merge_top
    from retrieval.vector.registry import create_index

    one, sharded = Engine.open(args.dirs[0]), Engine.open(args.dirs[1])
    base = np.ascontiguousarray(one.view().chunk_vectors, dtype=np.float32)
    q = one.embed_queries(queries)
    k = args.k
    exact = np.argsort(-(q @ base.T), axis=1, kind="stable")[:, :k]
    shards = [(np.ascontiguousarray(s.planner.dense.vectors, dtype=np.float32), s.ids) for s in sharded.planner.shards]
    rows = []
    for kind, name, values in (("hnsw", "ef_search", (16, 32, 64, 128)), ("ivf", "nprobe", (1, 2, 4, 8, 16))):
        single = create_index(kind, base.shape[1], len(base)).build(base)
        per_shard = [(create_index(kind, v.shape[1], len(v)).build(v), ids) for v, ids in shards]
        for value in values:
            params = {name: value}
            if kind == "ivf" and value > min(index.describe()["build_params"]["nlist"] for index, _ in per_shard):
                continue  # more lists than a shard has: refused per call, as on a bundle
            t0 = time.perf_counter()
            _, found = single.search(q, k, params=params)
            single_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            parts = [(index.search(q, k, params=params), ids) for index, ids in per_shard]
            merged = [merge_top([(ids[f[i][f[i] >= 0]], s[i][f[i] >= 0]) for (s, f), ids in parts], k)[0] for i in range(len(q))]
            sharded_s = time.perf_counter() - t0
            recall = lambda got: float(np.mean([len(set(g) & set(e)) / k for g, e in zip(got, exact)]))
            rows.append({"index": kind, "params": params, "recall_bundle": round(recall([f[f >= 0] for f in found]), 4),
                         "recall_collection": round(recall(merged), 4),
                         "bundle_ms_per_query": round(single_s * 1e3 / len(q), 4),
                         "collection_ms_per_query": round(sharded_s * 1e3 / len(q), 4)})
    return {"shards": len(shards), "chunks": len(base), f"recall@{k} against exact": "rows", "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("latency", "batch", "ann"))
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--queries", required=True)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    queries = [text for _, text in read_queries(args.queries)]
    result = {"latency": latency, "batch": batch, "ann": ann}[args.what](args, queries)
    result.update({"queries": len(queries), "machine": platform.platform(), "cpus": __import__("os").cpu_count()})
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
