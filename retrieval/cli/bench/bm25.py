"""``retrieval bench bm25 CORPUS --queries Q``: ours against rank-bm25 and bm25s, same tokens."""

from __future__ import annotations

import argparse
from typing import Any

from ..args import positive_int
from ..output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bm25", help="ours vs rank-bm25 vs bm25s, same tokens, one thread")
    p.add_argument("corpus")
    p.add_argument("--queries", required=True)
    p.add_argument("--limit", type=positive_int, help="use only the first N queries")
    p.add_argument("--no-numba", action="store_true", help="skip bm25s's numba backend")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed passes over the queries (median reported)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench import bm25_peers
    from ...errors import CorpusError
    from ...ingest import read_queries

    queries = [text for _, text in read_queries(args.queries)]
    if args.limit:
        queries = queries[: args.limit]
    if not queries:
        raise CorpusError(f"{args.queries}: no queries")
    result = bm25_peers.run(args.corpus, queries, with_numba=not args.no_numba, repeats=args.repeats)
    if args.json:
        print_json(result)
        return 0
    print(f"BM25, {result['documents']} documents, {result['queries']} queries x {result['repeats']} passes (median), "
          "one thread, top-10 from query strings")
    print(f"{'library':<16}{'queries/s':>12}{'ours is':>12}")
    print(f"{'ours (C++)':<16}{result['ours_qps']:>12.1f}{'':>12}")
    peers = [("bm25s", "bm25s_qps"), ("bm25s (numba)", "bm25s_numba_qps"), ("rank-bm25", "rank_bm25_qps")]
    for name, key in peers:
        if key in result:
            print(f"{name:<16}{result[key]:>12.1f}{result['ours_qps'] / result[key]:>11.1f}x")
    print(f"top-10 agreement with rank-bm25 (okapi): {result['top10_agreement_rank_bm25']:.4f}")
    return 0
