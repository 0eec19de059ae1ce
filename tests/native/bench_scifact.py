"""Single-thread topk() latency on SciFact (not a test; run it by hand).

    PYTHONPATH=. .venv/bin/python tests/native/bench_scifact.py [--baseline OLD.so] [--passes N]

Indexes SciFact (okapi) as whole documents and as the engine's chunks, then times
``index.topk(query_ids, k, strategy)`` per strategy and k:

* cold: every query once, in file order; a pass is repeated and the fastest pass is kept;
* warm: every query repeated, fastest repeat per query, averaged over queries.

The impact cache (decoded postings of queried terms) is filled by the first pass on each index;
that pass is reported on its own ("first pass"), and k=10 is also timed with the cache off.

Also prints a fit ``us = fixed + ns_per_posting * postings`` over warm per-query times, the cost
of an empty and a one-term query, and a 100k-document synthetic corpus (bench_topk.synthetic).

--baseline loads another build of ``retrieval._native`` (a copied .so file) next to the installed
one; both indexes are opened from the same arrays and timed interleaved, pass by pass, so a noisy
machine affects both alike. Results of the two are checked to be identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from retrieval.native import BM25Index

ROOT = Path(__file__).resolve().parents[2]
STRATEGIES = ("exhaustive", "maxscore", "auto")


def load_module(path: Path):
    """Imports a copy of the _native extension under another package name."""
    spec = importlib.util.spec_from_file_location("baseline_native._native", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scifact_indexes(data: Path, chunks: bool):
    from retrieval.bench.bm25_peers import document_texts
    from retrieval.config import AnalyzerConfig, BM25Config, IndexConfig
    from retrieval.ingest import read_queries
    from retrieval.keyword import BM25Builder
    from retrieval.text import Analyzer

    analyzer = Analyzer(AnalyzerConfig())
    builder = BM25Builder(analyzer, BM25Config(variant="okapi"))
    for doc in analyzer.analyze_many(document_texts(data)):
        builder.add_terms(doc)
    out = {"scifact docs": builder.build()}
    if chunks:
        from retrieval import Engine

        with tempfile.TemporaryDirectory() as tmp:
            engine = Engine.build(data, Path(tmp) / "bundle", IndexConfig(bm25=BM25Config(variant="okapi")))
            out["scifact chunks"] = engine.bm25
    texts = [t for _, t in read_queries(data / "queries.jsonl")]
    return {name: (bm.index, [bm.query_ids(t) for t in texts]) for name, bm in out.items()}


def synthetic_100k():
    from tests.native.bench_topk import synthetic

    offsets, tokens, vocab, queries = synthetic(100_000)
    return BM25Index.build(offsets, tokens, vocab, n_threads=2), queries["zipf0.8"][:100]


def cold_pass(index, queries, k, strategy):
    topk = index.topk
    t0 = time.perf_counter_ns()
    for q in queries:
        topk(q, k, strategy)
    return (time.perf_counter_ns() - t0) / 1e3 / len(queries)


def warm_times(index, queries, k, strategy, repeats):
    topk = index.topk
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        best = 1 << 62
        for _ in range(repeats):
            t0 = time.perf_counter_ns()
            topk(q, k, strategy)
            best = min(best, time.perf_counter_ns() - t0)
        out[i] = best / 1e3
    return out


def compare(indexes, queries, k, strategy, passes, repeats):
    """{label: (cold us, warm us per query array)}; labels timed interleaved."""
    cold = {label: [] for label in indexes}
    warm = {label: [] for label in indexes}
    for _ in range(passes):
        for label, index in indexes.items():
            cold[label].append(cold_pass(index, queries, k, strategy))
    for _ in range(3):
        for label, index in indexes.items():
            warm[label].append(warm_times(index, queries, k, strategy, repeats))
    return {label: (min(cold[label]), np.min(warm[label], axis=0)) for label in indexes}


def check_same(indexes, queries, k):
    ref = None
    for index in indexes.values():
        got = [index.topk(q, k, s) for q in queries for s in STRATEGIES]
        if ref is None:
            ref = got
            continue
        for (a_ids, a_sc), (b_ids, b_sc) in zip(ref, got):
            assert np.array_equal(a_ids, b_ids) and np.array_equal(a_sc, b_sc), "results differ"


def report(name, indexes, queries, ks, passes, repeats):
    main = indexes["new"]
    df = np.array([main.df(t) for t in range(main.vocab_size)], dtype=np.int64)
    postings = np.array([df[np.unique(q)].sum() if len(q) else 0 for q in queries])
    print(f"\n{name}: {main.n_docs} docs, {main.total_postings} postings, {len(queries)} queries, "
          f"{np.mean([len(q) for q in queries]):.1f} terms and {postings.mean():.0f} postings per query")
    # The very first pass on a fresh index also fills the impact cache (when the build has one).
    first = {label: cold_pass(index, queries, 10, "exhaustive") for label, index in indexes.items()}
    print("  first pass, exhaustive k=10 (fills the cache): "
          + " | ".join(f"{label} {us:.2f} us" for label, us in first.items())
          + "".join(f" | {label} cache {index.cache_bytes / 2**20:.1f} MiB"
                    for label, index in indexes.items() if hasattr(index, "cache_bytes")))
    check_same(indexes, queries, 100)
    for k in ks:
        for strategy in STRATEGIES:
            res = compare(indexes, queries, k, strategy, passes, repeats)
            cells = []
            for label, (cold, warm) in res.items():
                cells.append(f"{label}: cold {cold:6.2f} warm {warm.mean():6.2f}")
            line = f"  k={k:<3d} {strategy:10s} " + " | ".join(cells)
            if strategy == "exhaustive":
                for label, (_, warm) in res.items():
                    slope, fixed = np.polyfit(postings, warm, 1)
                    line += f"  [{label}: {fixed:.2f} us + {slope * 1e3:.2f} ns/posting]"
            print(line, flush=True)
    # Impact cache off (cache_limit = 0): every list is decoded on every query, as when the cache
    # budget is spent. Builds without a cache are timed as they are.
    uncached = {}
    for label, index in indexes.items():
        fresh = type(index).from_arrays(index.arrays(), index.variant, index.k1, index.b, index.epsilon)
        if hasattr(fresh, "cache_limit"):
            fresh.cache_limit = 0
        uncached[label] = fresh
    for strategy in STRATEGIES:
        res = compare(uncached, queries, 10, strategy, passes, repeats)
        print(f"  k=10  {strategy:10s} (uncached) "
              + " | ".join(f"{label}: cold {cold:6.2f} warm {warm.mean():6.2f}" for label, (cold, warm) in res.items()),
              flush=True)
    empty = np.zeros(0, dtype=np.uint32)
    rare = next(q[:1] for q in queries if len(q))
    for label, index in indexes.items():
        e = warm_times(index, [empty] * 50, 10, "auto", repeats).min()
        one = warm_times(index, [rare] * 50, 10, "exhaustive", repeats).min()
        print(f"  {label}: empty query {e:.2f} us, one term (df {main.df(int(rare[0]))}) {one:.2f} us")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--baseline", type=Path, help="a copy of an older _native .so to compare with")
    parser.add_argument("--passes", type=int, default=7, help="cold passes (the fastest is kept)")
    parser.add_argument("--repeats", type=int, default=20, help="warm repeats per query")
    parser.add_argument("--no-chunks", action="store_true", help="skip the chunked SciFact index")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the 100k-doc synthetic corpus")
    args = parser.parse_args()
    other = load_module(args.baseline) if args.baseline else None

    corpora = scifact_indexes(args.data, chunks=not args.no_chunks)
    if not args.no_synthetic:
        corpora["synthetic 100k zipf0.8"] = synthetic_100k()
    for name, (index, queries) in corpora.items():
        indexes = {"new": index}
        if other is not None:
            arrays = {key: np.array(value) for key, value in index.arrays().items()}
            indexes["base"] = other.BM25Index.from_arrays(arrays, index.variant, index.k1, index.b, index.epsilon)
        report(name, indexes, queries, (10, 100), args.passes, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
