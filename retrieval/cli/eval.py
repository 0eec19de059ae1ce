"""``retrieval eval DIR --queries Q --qrels QRELS [--run-out RUN]``: document-level nDCG@10,
recall@k, recall@10, MRR@10 and latency; optionally the rankings as a TREC run file."""

from __future__ import annotations

import argparse
from typing import Any

from .args import add_filter_option, search_k
from .choices import MODE_CHOICES
from .output import print_json


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("eval", help="score document retrieval against relevance judgements")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--mode", choices=MODE_CHOICES, default="bm25")
    p.add_argument("-k", type=search_k, default=100)
    add_filter_option(p)
    p.add_argument("--run-out", metavar="FILE", help="also write the rankings as a TREC run file (qid Q0 docid rank score tag)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ..bench.quality import evaluate
    from ..engine import Engine
    from ..ingest import read_qrels, read_queries
    from .checks import check_judgements

    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    with Engine.open(args.bundle) as engine:
        check_judgements(engine, queries, qrels, args)
        result = evaluate(engine, queries, qrels, mode=args.mode, k=args.k, filters=args.filters or None, run_out=args.run_out)
    if args.json:
        print_json(result)
    else:
        lat = result["latency_ms"]
        print(f"mode {args.mode}, {result['queries']} queries: nDCG@10 {result['ndcg@10']:.4f}, "
              f"recall@{args.k} {result[f'recall@{args.k}']:.4f}, recall@10 {result['recall@10']:.4f}, "
              f"MRR@10 {result['mrr@10']:.4f}, "
              f"latency p50 {lat['p50']:.2f} ms p95 {lat['p95']:.2f} ms p99 {lat['p99']:.2f} ms")
    return 0
