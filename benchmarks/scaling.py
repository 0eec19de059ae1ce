"""A scaling model of the Ray scale-out, measured on this machine and checked against it.

    # build: the fixed cost of a distributed build and the per-worker rate, checked against runs
    # with 1, 2 and 4 embedding workers (and the in-process sharded build of the same corpus)
    .venv/bin/python benchmarks/scaling.py build CORPUS.jsonl --docs 400 --out model.json
    # queries: per-shard cost against shard size (BM25 bundles of several sizes, a dense one),
    # the query embedding, and a Ray Serve call's cost; checked against benchmarks/ray_serving.py
    .venv/bin/python benchmarks/scaling.py query --bm25 B1 B2 B3 --dense DENSE --queries Q.jsonl \
        --measured serving.json --out model.json
    # predictions: 10M and 100M chunks on K nodes of C cores (and G GPUs at a given embed rate)
    .venv/bin/python benchmarks/scaling.py predict model.json --nodes 4 --cores 16

The model (stated where it is used, each figure named in the JSON):

    build time      T(K) = F + chunks / (r * min(K, cores))     F: a tiny build's time (Ray Data,
                    actors, models); r: chunks/s of one worker (chunk, embed, write), from K = 1
    query CPU       c(q) = base + call * (S + 1) + S * (bm25(n/S) + dense(n/S))
                    base: the one-machine service's CPU per query (cores * 1000 / its measured QPS)
                    less its own search; call: a Ray Serve call's CPU (a 4-way fan-out's time / 4);
                    bm25(m) = a + b*m (least squares over the bundles); dense(m): flat, measured at
                    one size, scaled linearly (an HNSW index at scale grows far slower: pessimistic)
    throughput      QPS = cores_total * 1000 / c(q)   (CPU-bound, balanced replicas)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def _machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def _update(out: Path, key: str, value: dict) -> None:
    model = json.loads(out.read_text()) if out.exists() else {}
    model[key] = value
    model["machine"] = _machine()
    out.write_text(json.dumps(model, indent=2))


# -- build ----------------------------------------------------------------------------------


def build(args: argparse.Namespace) -> dict:
    import ray

    from retrieval import Engine, IndexConfig
    from retrieval.cluster.build import build_on_ray

    lines = [line for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        sample, tiny = Path(tmp) / "sample.jsonl", Path(tmp) / "tiny.jsonl"
        sample.write_text("\n".join(lines[: args.docs]) + "\n", encoding="utf-8")
        tiny.write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")
        config = IndexConfig()
        t0 = time.perf_counter()
        with Engine.build(sample, Path(tmp) / "in-process", config, shards=args.shards) as engine:
            chunks = engine.counts["chunks"]
        in_process_s = time.perf_counter() - t0
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        try:
            t0 = time.perf_counter()
            build_on_ray(tiny, Path(tmp) / "tiny", config, args.shards, address=None, embed_actors=1)
            fixed_s = time.perf_counter() - t0
            measured = {}
            for k in args.workers:
                t0 = time.perf_counter()
                build_on_ray(sample, Path(tmp) / f"ray-{k}", config, args.shards, address=None, embed_actors=k,
                             overwrite=True)
                measured[k] = time.perf_counter() - t0
        finally:
            ray.shutdown()
    base = min(args.workers)
    rate = chunks / (max(measured[base] - fixed_s, 1e-9) * min(base, cores))  # chunks/s of one worker
    rows = []
    for k, seconds in measured.items():
        predicted = fixed_s + chunks / (rate * min(k, cores))
        rows.append({"workers": k, "measured_s": round(seconds, 2), "predicted_s": round(predicted, 2),
                     "error": round(predicted / seconds - 1, 3)})
    return {
        "docs": args.docs, "chunks": chunks, "shards": args.shards, "cores": cores,
        "fixed_s": round(fixed_s, 2), "worker_chunks_per_s": round(rate, 2),
        "in_process_s": round(in_process_s, 2),
        "in_process_predicted_s": round(chunks / (rate * cores), 2),  # every core in one process, no fixed Ray cost
        "ray_vs_in_process": {str(r["workers"]): round(r["measured_s"] / in_process_s, 3) for r in rows},
        "runs": rows,
    }


# -- queries --------------------------------------------------------------------------------


def _mean_ms(fn, items, repeats: int = 2) -> float:
    for item in items:  # warm
        fn(item)
    times = []
    for _ in range(repeats):
        for item in items:
            t0 = time.perf_counter_ns()
            fn(item)
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return float(np.mean(times))


def _serve_call_ms() -> dict:
    import ray
    from ray import serve

    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        serve.start(proxy_location="Disabled")

        @serve.deployment(ray_actor_options={"num_cpus": 0.1}, num_replicas=4)
        class Ping:
            def ping(self) -> int:
                return 1

        handle = serve.run(Ping.bind(), name="scaling-ping", route_prefix=None)
        one = _mean_ms(lambda _: handle.ping.remote().result(), range(100))

        def four(_: int) -> None:
            for response in [handle.ping.remote() for _ in range(4)]:
                response.result()

        fan = _mean_ms(four, range(50))
        serve.shutdown()
    finally:
        ray.shutdown()
    return {"call_ms": round(one, 3), "fanout4_ms": round(fan, 3), "call_cpu_ms": round(fan / 4, 3)}


def query(args: argparse.Namespace) -> dict:
    from retrieval import Engine
    from retrieval.ingest import read_queries

    queries = [text for _, text in read_queries(args.queries)][: args.max_queries]
    bm25 = []
    for path in args.bm25:
        with Engine.open(path) as engine:
            ms = _mean_ms(lambda q: engine.search(q, k=10, mode="bm25"), queries, repeats=1)
            bm25.append({"bundle": path, "chunks": engine.counts["chunks"], "ms": round(ms, 4)})
    sizes = np.array([b["chunks"] for b in bm25], dtype=np.float64)
    costs = np.array([b["ms"] for b in bm25])
    slope, intercept = np.polyfit(sizes, costs, 1) if len(bm25) > 1 else (costs[0] / sizes[0], 0.0)
    with Engine.open(args.dense) as engine:
        view = engine.view()
        vectors = view.embed_queries(queries)
        dense_ms = _mean_ms(lambda v: view.search(queries[0], k=10, mode="dense", query_vector=v), list(vectors), repeats=1)
        dense_chunks = engine.counts["chunks"]
    serve_call = _serve_call_ms()
    model = {
        "bm25": bm25, "bm25_ms_intercept": round(float(intercept), 5), "bm25_ms_per_chunk": float(slope),
        "dense": {"bundle": args.dense, "chunks": dense_chunks, "ms": round(dense_ms, 4)},
        "dense_ms_per_chunk": dense_ms / dense_chunks, **serve_call,
    }
    if args.measured:
        measured = json.loads(Path(args.measured).read_text())
        serve = next(r for r in measured["rows"] if r["setup"] == "serve")
        cores = os.cpu_count() or 1
        # Everything one machine's service spends on a query but the shard search itself: gRPC,
        # admission, embedding, fusion, fetching the text (calibrated on the measured service).
        model["service_cpu_ms"] = round(cores * 1000 / serve["qps"], 3)
        model["base_cpu_ms"] = round(model["service_cpu_ms"] - _search_ms(model, dense_chunks, args.shards), 3)
        model["check"] = check_serving(model, measured, args.shards, dense_chunks)
    return model


def _search_ms(model: dict, chunks: float, shards: int, dense: bool = True) -> float:
    """CPU of the shards' search for one hybrid query: BM25 and flat dense over chunks/shards each."""
    per_shard = chunks / shards
    cost = model["bm25_ms_intercept"] + model["bm25_ms_per_chunk"] * per_shard
    if dense:
        cost += model["dense_ms_per_chunk"] * per_shard
    return shards * cost


def query_cpu_ms(model: dict, chunks: float, shards: int, dense: bool = True) -> float:
    """A query's CPU through Ray Serve: the service's own work, a Serve call per shard and one for
    the embedding, and the shards' search."""
    return model["base_cpu_ms"] + model["call_cpu_ms"] * (shards + 1) + _search_ms(model, chunks, shards, dense)


def check_serving(model: dict, measured: dict, shards: int, chunks: int) -> list[dict]:
    """The model's QPS for this machine against benchmarks/ray_serving.py's measured Ray rows."""
    cores = os.cpu_count() or 1
    predicted = cores * 1000 / query_cpu_ms(model, chunks, shards)
    rows = []
    for row in measured["rows"]:
        if row["setup"].startswith("ray"):
            rows.append({"setup": row["setup"], "measured_qps": round(row["qps"], 1), "predicted_qps": round(predicted, 1),
                         "error": round(predicted / row["qps"] - 1, 3)})
    return rows


# -- predictions ----------------------------------------------------------------------------


def predict(args: argparse.Namespace) -> dict:
    model = json.loads(Path(args.model).read_text())
    out = {"nodes": args.nodes, "cores_per_node": args.cores, "gpus_per_node": args.gpus, "rows": []}
    cores = args.nodes * args.cores
    for chunks in args.chunks:
        shards = args.shards or args.nodes  # one shard per node: every shard adds a Serve call per query
        row: dict = {"chunks": chunks, "shards": shards}
        if "build" in model:
            b = model["build"]
            row["build_h_cpu"] = round((b["fixed_s"] + chunks / (b["worker_chunks_per_s"] * cores)) / 3600, 2)
            if args.gpus and args.gpu_chunks_per_s:
                row["build_h_gpu"] = round((b["fixed_s"] + chunks / (args.gpu_chunks_per_s * args.gpus * args.nodes)) / 3600, 2)
        if "query" in model and "base_cpu_ms" in model["query"]:
            for name, dense in (("bm25", False), ("hybrid_flat", True)):
                cpu_ms = query_cpu_ms(model["query"], chunks, shards, dense)
                row[f"{name}_cpu_ms"] = round(cpu_ms, 2)
                row[f"{name}_qps"] = round(cores * 1000 / cpu_ms, 1)
        out["rows"].append(row)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("corpus")
    b.add_argument("--docs", type=int, default=400)
    b.add_argument("--shards", type=int, default=4)
    b.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    b.add_argument("--out", type=Path, required=True)
    q = sub.add_parser("query")
    q.add_argument("--bm25", nargs="+", required=True, help="keyword bundles of several sizes")
    q.add_argument("--dense", required=True, help="a dense bundle (flat)")
    q.add_argument("--queries", required=True)
    q.add_argument("--max-queries", type=int, default=300)
    q.add_argument("--shards", type=int, default=4, help="shards of the collection --measured served")
    q.add_argument("--measured", help="benchmarks/ray_serving.py's JSON, to check the model against")
    q.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("predict")
    r.add_argument("model")
    r.add_argument("--nodes", type=int, default=4)
    r.add_argument("--cores", type=int, default=16)
    r.add_argument("--gpus", type=int, default=0)
    r.add_argument("--gpu-chunks-per-s", type=float, help="one GPU's embedding rate (not measurable here)")
    r.add_argument("--shards", type=int, help="default: one per node")
    r.add_argument("--chunks", type=lambda s: [int(float(x)) for x in s.split(",")], default=[10_000_000, 100_000_000])
    args = p.parse_args()
    if args.command == "build":
        result = build(args)
        _update(args.out, "build", result)
    elif args.command == "query":
        result = query(args)
        _update(args.out, "query", result)
    else:
        result = predict(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
