"""What tracing costs a search: ``Engine.search`` p50 with OpenTelemetry off and on, same run.

    .venv/bin/python benchmarks/tracing_overhead.py --bundle BUNDLE [--queries Q.jsonl] [--rounds 3]

"On" is what a production app configures: the SDK's ``TracerProvider`` with a
``BatchSpanProcessor`` (spans exported from a background thread) and an exporter that drops
them (the network is not what is measured), sampling every trace, and again sampling one in ten
(``--sample 0.1``: ``ParentBased(TraceIdRatioBased)``, a common production setting). "Off" is no provider, what every user without
OpenTelemetry runs. The two are interleaved query by query, the order alternating, by swapping
the provider ``opentelemetry.trace.get_tracer_provider`` returns (a global set once otherwise).
Per mode: bm25 (the shortest search: the worst case for a relative overhead) and hybrid with
the query-embedding cache warm (no model call) and cold (cleared before each call: one
embedding per search, as for a first-seen query). Prints p50s and on/off ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from retrieval import Engine, tracing
from retrieval.ingest import read_queries

SCIFACT_QUERIES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact" / "queries.jsonl"


class DroppingExporter(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def measure(engine: Engine, mode: str, cold: bool, queries: list[str], rounds: int, k: int, provider: Any) -> dict:
    off = otel_trace.get_tracer_provider
    cache = engine.view().query_cache
    for query in queries:  # warm-up: store columns decoded, query embeddings cached
        engine.search(query, k=k, mode=mode)
    times: dict[str, list[float]] = {"off": [], "on": []}
    order = ["off", "on"]
    try:
        for _ in range(rounds):
            for query in queries:
                order.reverse()
                for name in order:
                    otel_trace.get_tracer_provider = (lambda: provider) if name == "on" else off
                    if cold and cache is not None:
                        cache.clear()
                    t0 = time.perf_counter_ns()
                    engine.search(query, k=k, mode=mode)
                    times[name].append((time.perf_counter_ns() - t0) / 1e6)
    finally:
        otel_trace.get_tracer_provider = off
    assert tracing.active_tracer() is None
    p50 = {name: float(np.percentile(t, 50)) for name, t in times.items()}
    return {
        "off_p50_ms": round(p50["off"], 4),
        "on_p50_ms": round(p50["on"], 4),
        "p50_ratio": round(p50["on"] / p50["off"], 4),
        "p50_overhead_ms": round(p50["on"] - p50["off"], 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--queries", default=str(SCIFACT_QUERIES))
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=float, nargs="*", default=[1.0, 0.1], help="sampling ratios to measure")
    args = parser.parse_args()
    queries = [text for _, text in read_queries(args.queries)]
    exporter = DroppingExporter()
    results = {}
    with Engine.open(args.bundle) as engine:
        cases = [("bm25", False)] + ([("hybrid", False), ("hybrid", True)] if "hybrid" in engine.modes else [])
        for ratio in args.sample:
            provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
            provider.add_span_processor(BatchSpanProcessor(exporter))
            for mode, cold in cases:
                name = mode if mode == "bm25" else f"{mode} ({'cold' if cold else 'warm'} embedding cache)"
                name = f"{name}, sampled {ratio:g}"
                results[name] = measure(engine, mode, cold, queries, args.rounds, args.k, provider)
                print(name, results[name], file=sys.stderr)
            provider.shutdown()
    json.dump({"bundle": args.bundle, "queries": len(queries), "rounds": args.rounds, "k": args.k,
               "spans_exported": exporter.spans, "results": results, "python": platform.python_version(),
               "machine": platform.platform(), "cpus": os.cpu_count()}, sys.stdout, indent=2)  # fmt: skip
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
