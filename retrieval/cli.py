"""The `retrieval` command. Each subcommand imports what it needs when it runs.

Errors a user can cause print one line on stderr and exit 2; `--json` prints exactly one JSON
object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Sequence

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # bare strings need no quotes
    return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="retrieval", description="An optimized RAG retrieval engine.")
    parser.add_argument("--version", action="version", version=f"retrieval {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="build an index bundle from a corpus")
    p.add_argument("corpus", help="BEIR dir, .jsonl, .parquet, or 'demo' (the Python stdlib docs)")
    p.add_argument("--out", required=True, help="bundle directory to create")
    p.add_argument("--vector-index", choices=["flat", "hnsw", "ivf", "ivfpq", "sq8"],
                   help="dense index kind (default: flat up to 50,000 chunks, hnsw above)")
    p.add_argument("--no-dense", action="store_true", help="build the keyword (BM25) index only")
    p.add_argument("--config", help="TOML file with [analyzer], [chunker], [bm25] tables")
    p.add_argument("--set", dest="overrides", action="append", type=_override, default=[],
                   metavar="KEY=VALUE", help="override a config value, e.g. --set bm25.k1=1.2")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="search a bundle")
    p.add_argument("bundle")
    p.add_argument("text")
    p.add_argument("--mode", choices=["bm25", "dense", "hybrid", "prefilter"], default="bm25")
    p.add_argument("-k", type=_positive_int, default=10)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="score document retrieval against relevance judgements")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--mode", choices=["bm25", "dense", "hybrid", "prefilter"], default="bm25")
    p.add_argument("-k", type=_positive_int, default=100)
    p.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="benchmarks against the libraries people use instead")
    bench_sub = bench.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    p = bench_sub.add_parser("embed", help="our ONNX embedder (fp32, int8) vs sentence-transformers")
    p.add_argument("--texts", help="corpus to take texts from (default: the built-in demo corpus)")
    p.add_argument("--limit", type=_positive_int, default=256, help="number of texts (default 256)")
    p.add_argument("--threads", type=_positive_int, default=2)
    p.add_argument("--batch-sizes", default="8,16,32,64", help="comma-separated batch sizes to sweep")
    p.add_argument("--repeats", type=_positive_int, default=1)
    p.add_argument("--json", action="store_true")

    p = bench_sub.add_parser("bm25", help="ours vs rank-bm25 vs bm25s, same tokens, one thread")
    p.add_argument("corpus")
    p.add_argument("--queries", required=True)
    p.add_argument("--limit", type=_positive_int, help="use only the first N queries")
    p.add_argument("--no-numba", action="store_true", help="skip bm25s's numba backend")
    p.add_argument("--repeats", type=_positive_int, default=3, help="timed passes over the queries (median reported)")
    p.add_argument("--json", action="store_true")
    return parser


def cmd_index(args: argparse.Namespace) -> int:
    from .config import IndexConfig
    from .engine import Engine
    from .errors import ConfigError

    if args.vector_index and args.no_dense:
        raise ConfigError("--vector-index needs a dense index; drop --no-dense")
    overrides = dict(args.overrides)
    if args.no_dense:
        overrides["dense"] = False
    if args.vector_index:
        overrides["vector.kind"] = args.vector_index
    config = IndexConfig.from_toml(args.config, overrides) if args.config else IndexConfig.from_dict({}, overrides)
    started = time.perf_counter()
    engine = Engine.build(args.corpus, args.out, config, overwrite=args.overwrite, progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    counts = engine.counts
    result = {"chunks": counts["chunks"], "documents": counts["documents"], "seconds": seconds, "dir": str(args.out)}
    if args.json:
        _print_json(result)
    else:
        print(f"indexed {counts['documents']} documents as {counts['chunks']} chunks in {seconds:.2f} s → {args.out}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .engine import Engine

    engine = Engine.open(args.bundle)
    result = engine.search(args.text, k=args.k, mode=args.mode)
    if args.json:
        _print_json(
            {
                "hits": [{"id": h.id, "doc_id": h.doc_id, "score": h.score, "text": h.text, "title": h.title} for h in result.hits],
                "timings_ms": result.timings.as_dict(),
            }
        )
        return 0
    if not result.hits:
        print("no hits")
    for rank, hit in enumerate(result.hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet[:200] + ("…" if len(snippet) > 200 else "")
        print(f"{rank:>3}. {hit.score:8.3f}  {hit.id}  {hit.title}")
        print(f"     {snippet}")
    timings = ", ".join(f"{k} {v:.2f} ms" for k, v in result.timings.as_dict().items())
    print(f"({timings})", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .bench.quality import evaluate
    from .engine import Engine
    from .ingest import read_qrels, read_queries

    engine = Engine.open(args.bundle)
    result = evaluate(engine, read_queries(args.queries), read_qrels(args.qrels), mode=args.mode, k=args.k)
    if args.json:
        _print_json(result)
    else:
        lat = result["latency_ms"]
        print(f"mode {args.mode}, {result['queries']} queries: nDCG@10 {result['ndcg@10']:.4f}, "
              f"recall@{args.k} {result[f'recall@{args.k}']:.4f}, "
              f"latency p50 {lat['p50']:.2f} ms p95 {lat['p95']:.2f} ms p99 {lat['p99']:.2f} ms")
    return 0


def cmd_bench_bm25(args: argparse.Namespace) -> int:
    from .bench import bm25_peers
    from .ingest import read_queries

    queries = [text for _, text in read_queries(args.queries)]
    if args.limit:
        queries = queries[: args.limit]
    result = bm25_peers.run(args.corpus, queries, with_numba=not args.no_numba, repeats=args.repeats)
    if args.json:
        _print_json(result)
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


def cmd_bench_embed(args: argparse.Namespace) -> int:
    from .bench import embed_peers
    from .errors import ConfigError

    try:
        batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    except ValueError:
        raise ConfigError(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}") from None
    if args.texts:
        texts = embed_peers.texts_from(args.texts, args.limit)
    else:
        from .ingest import demo_corpus

        texts = [f"{d.title} {d.text}" for _, d in zip(range(args.limit), demo_corpus())]
    progress = (lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() else None
    result = embed_peers.run(texts, threads=args.threads, batch_sizes=batch_sizes, repeats=args.repeats, progress=progress)
    if args.json:
        _print_json(result)
        return 0
    print(f"embedding {len(texts)} texts, {args.threads} threads, each at its best batch size")
    print(f"{'method':<24}{'texts/s':>10}{'vs ST':>8}")
    st = result["st_per_s"]
    for name, key in [("sentence-transformers", "st_per_s"), ("ONNX fp32 (ours)", "onnx_fp32_per_s"), ("ONNX int8 (ours)", "onnx_int8_per_s")]:
        print(f"{name:<24}{result[key]:>10.1f}{result[key] / st:>7.2f}x")
    print(f"cosine to sentence-transformers: fp32 min {result['cos_min_fp32']:.6f}, int8 min {result['cos_min_int8']:.4f}")
    return 0


COMMANDS = {"index": cmd_index, "search": cmd_search, "eval": cmd_eval}
BENCHES = {"bm25": cmd_bench_bm25, "embed": cmd_bench_embed}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = BENCHES[args.bench] if args.command == "bench" else COMMANDS[args.command]
    from .errors import RetrievalError

    try:
        return handler(args)
    except RetrievalError as exc:
        return _fail(str(exc))
    except OSError as exc:  # unreadable/unwritable paths
        return _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("RETRIEVAL_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (set RETRIEVAL_DEBUG=1 for a traceback)", 1)


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"retrieval: error: {message}", file=sys.stderr)
    return code


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _version() -> str:
    from . import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
