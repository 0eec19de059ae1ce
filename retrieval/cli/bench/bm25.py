"""``retrieval bench bm25 CORPUS --queries Q``: ours against bm25s and rank-bm25, same tokens."""

from __future__ import annotations

import argparse
from typing import Any

from ..args import positive_int
from ..output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bm25", help="ours vs bm25s vs rank-bm25: build time, memory, q/s, p50/p99")
    p.add_argument("corpus")
    p.add_argument("--queries", required=True)
    p.add_argument("--limit", type=positive_int, help="use only the first N queries")
    p.add_argument("--peers", default="bm25s,rank-bm25", help="comma-separated: bm25s (both backends), bm25s-numba, rank-bm25 (default: bm25s,rank-bm25)")
    p.add_argument("--no-numba", action="store_true", help="skip bm25s's numba backend")
    p.add_argument("--rank-bm25-max-docs", type=positive_int, default=None,
                   help="run rank-bm25 up to this many documents (default 50,000: it is too slow above)")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed passes over the queries (median reported)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench import bm25_peers
    from ...errors import CorpusError
    from ...ingest import read_queries

    peers = bm25_peers.parse_peers(args.peers)
    queries = [text for _, text in read_queries(args.queries)]
    if args.limit:
        queries = queries[: args.limit]
    if not queries:
        raise CorpusError(f"{args.queries}: no queries")
    result = bm25_peers.run(
        args.corpus,
        queries,
        with_numba=not args.no_numba,
        repeats=args.repeats,
        peers=peers,
        rank_bm25_max_docs=args.rank_bm25_max_docs or bm25_peers.RANK_BM25_MAX_DOCS,
    )
    if args.json:
        print_json(result)
        return 0
    print(f"BM25, {result['documents']:,} documents, {result['queries']} queries x {result['repeats']} passes "
          "(median), top-10 from query strings, one thread; batch: all queries in one call, "
          f"{bm25_peers.BATCH_THREADS} threads")
    print(f"{'library':<14}{'build s':>9}{'peak MB':>9}{'q/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'batch q/s':>11}{'ours is':>9}")
    ours_qps = result["ours_qps"]
    for name, m in result["libraries"].items():
        batch = f"{m['batch_qps']:>11.0f}" if m["batch_qps"] else f"{'-':>11}"
        ratio = "" if name == "ours" else f"{ours_qps / m['qps']:>8.2f}x"
        print(f"{name:<14}{m['build_s']:>9.1f}{m['peak_rss_mb']:>9.0f}{m['qps']:>9.0f}{m['latency_ms']['p50']:>8.2f}"
              f"{m['latency_ms']['p99']:>8.2f}{batch}{ratio:>9}")
    for name, why in result["skipped"].items():
        print(f"{name}: skipped ({why})")
    if result["top10_agreement_rank_bm25"] is not None:
        print(f"top-10 agreement with rank-bm25 (okapi): {result['top10_agreement_rank_bm25']:.4f}")
    return 0
