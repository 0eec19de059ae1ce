"""``retrieval bench sweep (DIR | --fvecs BASE --queries Q)``: recall@10 against speed per index kind and setting."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..args import percent, positive_int
from ..output import print_json, stderr_progress


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("sweep", help="recall@10 vs speed for each vector index kind and parameter value")
    p.add_argument("bundle", nargs="?", help="a bundle: sweep over its chunk vectors")
    p.add_argument("--fvecs", help="base vectors (.fvecs) instead of a bundle")
    p.add_argument("--queries", help=".fvecs queries (with --fvecs), or a queries .jsonl to embed (with a bundle)")
    p.add_argument("--gt", help="ground truth .ivecs (default: exact search)")
    p.add_argument("--config", help="sweep grid TOML (see benchmarks/configs/)")
    p.add_argument("--repeats", type=positive_int, default=3)
    p.add_argument("--threads", type=positive_int, default=1, help="FAISS threads (default 1)")
    p.add_argument("--plot", help="write log-QPS vs recall (Pareto points marked) to this PNG")
    p.add_argument("--baseline", help="an earlier --json result: fail if this run regressed")
    p.add_argument("--max-regression", type=percent, default=10.0, help="allowed drop in percent (default 10)")
    p.add_argument("--results-dir", default="benchmarks/results", help="where the JSONL rows go")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from ...bench import sweep
    from ...errors import ConfigError
    from ..checks import check_plot_target

    check_plot_target(args.plot)
    if os.path.exists(args.results_dir) and not os.path.isdir(args.results_dir):
        raise ConfigError(f"--results-dir {args.results_dir} is a file, not a directory")
    config = sweep.load_config(args.config) if args.config else None
    if args.baseline:  # read and checked now: a bad baseline must not cost a whole sweep
        from ...bench.regression import check, load_baseline

        baseline = load_baseline(args.baseline)
    base, queries, gt, metric = _sweep_inputs(args)
    result = sweep.run(base, queries, gt=gt, metric=metric, config=config, repeats=args.repeats,
                       threads=args.threads, progress=stderr_progress())
    result["results_file"] = str(sweep.write_jsonl(result, args.results_dir))
    if args.plot:
        from ...bench.plot import plot

        plot(result, args.plot)
    failures: list[str] = []
    if args.baseline:
        failures = check(result, baseline, args.max_regression)
        result["regressions"] = failures
    if args.json:
        print_json(result)
    else:
        _print_table(result)
    for message in failures:
        print(f"regression: {message}", file=sys.stderr)
    return 1 if failures else 0


def _print_table(result: dict[str, Any]) -> None:
    print(f"{'index':<8}{'params':<40}{'recall@10':>10}{'qps':>10}{'batch qps':>11}{'p50 ms':>8}{'p99 ms':>8}{'build s':>8}{'MB':>7}")
    for row in result["rows"]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "-"
        print(f"{row['index']:<8}{params:<40}{row['recall@10']:>10.4f}{row['qps']:>10.0f}{row['batch_qps']:>11.0f}"
              f"{row['p50_ms']:>8.3f}{row['p99_ms']:>8.3f}{row['build_s']:>8.2f}{row['memory_mb']:>7.1f}")
    overhead = result.get("overhead", {})
    if overhead.get("median_ratio_qps") is not None:
        print(f"raw faiss vs ours, one query per call: median qps ratio {overhead['median_ratio_qps']:.2f}")


def _sweep_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any, str]:
    """(base, queries, ground truth or None, metric) from --fvecs files or a bundle."""
    import numpy as np

    from ...bench.vecs import read_fvecs, read_ivecs
    from ...errors import ConfigError, CorpusError

    if bool(args.bundle) == bool(args.fvecs):
        raise ConfigError("give either a bundle directory or --fvecs BASE.fvecs --queries Q.fvecs")
    if args.fvecs:
        if not args.queries:
            raise ConfigError("--fvecs needs --queries Q.fvecs")
        gt = read_ivecs(args.gt) if args.gt else None
        return read_fvecs(args.fvecs), read_fvecs(args.queries), gt, "l2"
    from ...engine import Engine

    with Engine.open(args.bundle, faiss_threads=None) as engine:
        view = engine.view()
        if view.chunk_vectors is None:
            raise ConfigError(f"{args.bundle} has no dense index to sweep (built with --no-dense)")
        base = np.ascontiguousarray(view.chunk_vectors, dtype=np.float32)
        if args.queries:
            from ...ingest import read_queries

            texts = [text for _, text in read_queries(args.queries)]
            if not texts:
                raise CorpusError(f"{args.queries}: no queries")
            queries = np.asarray(view.query_embedder.embed_queries(texts), dtype=np.float32)
        else:  # a seeded sample of the chunks themselves
            pick = np.random.default_rng(0).choice(len(base), size=min(200, len(base)), replace=False)
            queries = base[pick]
    return base, queries, (read_ivecs(args.gt) if args.gt else None), "ip"
