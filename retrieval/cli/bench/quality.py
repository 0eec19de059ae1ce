"""``retrieval bench quality DIR --queries Q --qrels QRELS``: quality and latency per mode and setting."""

from __future__ import annotations

import argparse
from typing import Any

from ..output import print_json, stderr_progress


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("quality", help="nDCG@10 / recall@100 / latency per mode and search setting")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--plot", help="write nDCG@10 vs p50 latency (Pareto points marked) to this PNG")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench import quality_sweep
    from ...engine import Engine
    from ...ingest import read_qrels, read_queries
    from ..checks import check_judgements, check_plot_target

    check_plot_target(args.plot)
    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    with Engine.open(args.bundle) as engine:
        check_judgements(engine, queries, qrels, args)
        result = quality_sweep.run(engine, queries, qrels, progress=stderr_progress())
    if args.plot:
        from ...bench.plot import plot_quality

        plot_quality(result, args.plot)
    if args.json:
        print_json(result)
        return 0
    print(f"{'mode':<10}{'params':<52}{'nDCG@10':>9}{'R@100':>8}{'p50 ms':>8}{'p99 ms':>8}  pareto")
    for row in result["rows"]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "-"
        if "routed_bm25" in row:
            params = f"{row['routed_bm25']:.0%} of queries answered by BM25 alone"
        print(f"{row['mode']:<10}{params:<52}{row['ndcg@10']:>9.4f}{row['recall@100']:>8.3f}"
              f"{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}  {'*' if row['pareto'] else ''}")
    return 0
