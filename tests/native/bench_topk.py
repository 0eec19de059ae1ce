"""Exhaustive vs MaxScore top-k latency (not a test; run it by hand).

    .venv/bin/python -m tests.native.bench_topk [--big] [--sweep]

Synthetic Zipfian corpora (~200 tokens a doc, 30k vocabulary, ~10-term queries) and, when
../shared/data/scifact is present, SciFact abstracts with a plain lowercase word tokenizer.
Prints mean / p50 / p99 microseconds per single-threaded topk() call; warm-up excluded.
--sweep times every query with both strategies (best of 3) and scores the `auto` rule
"maxscore when the query terms' postings >= c * k" for several c against a per-query oracle.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

import numpy as np

from retrieval.native import BM25Index

from .helpers import pack

STOPWORDS = set(
    "a an and are as at be by for from has have in is it its of on or that the this to was were "
    "which with we our these those not no than then there their they can may also between both".split()
)


def zipf_tokens(rng, n, vocab, s):
    p = np.arange(1, vocab + 1, dtype=np.float64) ** -s
    return rng.choice(vocab, size=n, p=p / p.sum()).astype(np.uint32)


def synthetic(n_docs, seed=0, vocab=30_000, doc_len=200, q_len=10, n_queries=300):
    rng = np.random.default_rng(seed)
    lengths = rng.poisson(doc_len, size=n_docs)
    tokens = zipf_tokens(rng, int(lengths.sum()), vocab, 1.0)
    offsets = np.zeros(n_docs + 1, dtype=np.uint64)
    np.cumsum(lengths, out=offsets[1:])
    # Queries: same law as the text (common words included) and a flatter one (content words).
    queries = {
        "zipf1.0": [zipf_tokens(rng, q_len, vocab, 1.0) for _ in range(n_queries)],
        "zipf0.8": [zipf_tokens(rng, q_len, vocab, 0.8) for _ in range(n_queries)],
    }
    return offsets, tokens, vocab, queries


def scifact(path: Path, stop: bool):
    ids: dict[str, int] = {}

    def analyze(text, add):
        words = [w for w in re.findall(r"\w+", text.lower()) if not (stop and w in STOPWORDS)]
        if add:
            return [ids.setdefault(w, len(ids)) for w in words]
        return [ids[w] for w in words if w in ids]

    with open(path / "corpus.jsonl", encoding="utf-8") as lines:
        docs = [analyze(f"{r['title']} {r['text']}", True) for r in map(json.loads, lines)]
    with open(path / "queries.jsonl", encoding="utf-8") as lines:
        queries = [np.array(analyze(json.loads(line)["text"], False), dtype=np.uint32) for line in lines]
    offsets, tokens = pack(docs)
    return offsets, tokens, len(ids), {"scifact" + ("-stop" if stop else ""): queries}


def time_queries(index, queries, k, strategy):
    for query in queries[:20]:
        index.topk(query, k, strategy)
    samples = []
    for query in queries:
        t0 = time.perf_counter_ns()
        index.topk(query, k, strategy)
        samples.append(time.perf_counter_ns() - t0)
    us = np.array(samples) / 1e3
    return us.mean(), np.percentile(us, 50), np.percentile(us, 99)


def report(name, offsets, tokens, vocab, query_sets, ks=(10,)):
    t0 = time.perf_counter()
    index = BM25Index.build(offsets, tokens, vocab, n_threads=2)
    build_s = time.perf_counter() - t0
    print(f"\n{name}: {index.n_docs} docs, {len(tokens)} tokens, {index.total_postings} postings, "
          f"{index.arrays()['postings'].nbytes / 2**20:.1f} MiB postings, build {build_s:.2f} s")
    for qname, queries in query_sets.items():
        for k in ks:
            row = []
            for strategy in ("exhaustive", "maxscore", "auto"):
                mean, p50, p99 = time_queries(index, queries, k, strategy)
                row.append(f"{strategy} mean {mean:7.1f} p50 {p50:7.1f} p99 {p99:7.1f}")
            print(f"  {qname:12s} k={k:<4d} " + " | ".join(row) + "  (us)")


def sweep_rows(offsets, tokens, vocab, query_sets, ks=(10, 100), per_set=150):
    """(k, postings of the query's unique terms, exhaustive us, maxscore us) per query."""
    index = BM25Index.build(offsets, tokens, vocab, n_threads=2)
    df = np.array([index.df(t) for t in range(vocab)], dtype=np.int64)
    rows = []
    for queries in query_sets.values():
        for k in ks:
            for query in queries[:per_set]:
                if len(query) == 0:
                    continue
                best = []
                for strategy in ("exhaustive", "maxscore"):
                    samples = []
                    for _ in range(3):
                        t0 = time.perf_counter_ns()
                        index.topk(query, k, strategy)
                        samples.append(time.perf_counter_ns() - t0)
                    best.append(min(samples) / 1e3)
                rows.append((k, int(df[np.unique(query)].sum()), *best))
    return rows


def sweep(corpora):
    rows = np.array([row for corpus in corpora for row in sweep_rows(*corpus)], dtype=np.float64)
    k, postings, exhaustive, maxscore = rows.T
    print(f"\nsweep over {len(rows)} (query, k) pairs, total ms: exhaustive {exhaustive.sum() / 1e3:.1f}, "
          f"maxscore {maxscore.sum() / 1e3:.1f}, oracle {np.minimum(exhaustive, maxscore).sum() / 1e3:.1f}")
    for c in (100, 200, 300, 400, 500, 600, 800, 1000):
        chosen = np.where(postings >= c * k, maxscore, exhaustive)
        print(f"  maxscore when postings >= {c:4d} * k: {chosen.sum() / 1e3:.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also run 100k documents")
    parser.add_argument("--scifact", type=Path, default=Path(__file__).resolve().parents[3] / "shared/data/scifact")
    parser.add_argument("--sweep", action="store_true", help="per-query sweep of the auto rule")
    args = parser.parse_args()
    print(platform.platform(), platform.processor(), "numpy", np.__version__)
    corpora = [("synthetic 5k", synthetic(5_000))]
    if args.big:
        corpora += [("synthetic 20k", synthetic(20_000)), ("synthetic 100k", synthetic(100_000))]
    if (args.scifact / "corpus.jsonl").exists():
        corpora += [("SciFact", scifact(args.scifact, stop)) for stop in (False, True)]
    else:
        print(f"(SciFact not found at {args.scifact}; skipped)")
    for name, corpus in corpora:
        report(name, *corpus, ks=(10, 100))
    if args.sweep:
        sweep([corpus for _, corpus in corpora])


if __name__ == "__main__":
    main()
