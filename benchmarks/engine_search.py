"""Engine.search one query at a time on a bundle, warm: q/s, p50 and p99 (analysis, top-k, chunk
text and metadata included).

    .venv/bin/python benchmarks/engine_search.py BUNDLE --queries Q.jsonl [--mode bm25] [--repeats 3]

An untimed pass over every query comes first (it fills the caches and decodes the chunk store's
columns); q/s is from the fastest of ``--repeats`` timed passes, p50/p99 over that pass.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from retrieval import Engine
from retrieval.ingest import read_queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("--queries", required=True)
    parser.add_argument("--mode", default="bm25")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    queries = [text for _, text in read_queries(args.queries)]
    with Engine.open(args.bundle) as engine:
        for query in queries:  # warm-up
            engine.search(query, k=args.k, mode=args.mode)
        best = None
        for _ in range(args.repeats):
            samples = []
            for query in queries:
                t0 = time.perf_counter_ns()
                engine.search(query, k=args.k, mode=args.mode)
                samples.append(time.perf_counter_ns() - t0)
            ms = np.asarray(samples) / 1e6
            if best is None or ms.sum() < best.sum():
                best = ms
    print(json.dumps({
        "bundle": args.bundle, "mode": args.mode, "queries": len(queries),
        "qps": round(1000 * len(queries) / float(best.sum()), 1),
        "p50_ms": round(float(np.median(best)), 3), "p99_ms": round(float(np.percentile(best, 99)), 3),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
