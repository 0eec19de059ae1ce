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

from .cli_args import generator_options, non_negative_int, percent, positive_int, positive_int_list, ratio, search_k

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _override(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # bare strings need no quotes
    return key, value


def _filter(text: str) -> tuple[str, tuple[str, ...]]:
    from .errors import QueryError
    from .search.filters import parse_filter_arg

    try:
        return parse_filter_arg(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


FILTER_HELP = ("only documents whose metadata KEY is VALUE (or one of V1,V2); repeat for more keys (AND). "
               "Numbers and booleans compare as their JSON text, e.g. year=2020, draft=false")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="retrieval", description="An optimized RAG retrieval engine.")
    parser.add_argument("--version", action="version", version=f"retrieval {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("index", help="build an index bundle from a corpus")
    p.add_argument("corpus", help="BEIR dir, .jsonl, .parquet, a postgresql:// DSN (with --sql), or 'demo' (the Python stdlib docs)")
    p.add_argument("--out", required=True, help="bundle directory to create")
    p.add_argument("--sql", help="with a postgresql:// corpus: the query, e.g. \"SELECT id, title, text FROM docs\"")
    p.add_argument("--vector-index", choices=["flat", "hnsw", "ivf", "ivfpq", "sq8"],
                   help="dense index kind (default: flat up to 50,000 chunks, hnsw above)")
    p.add_argument("--no-dense", action="store_true", help="build the keyword (BM25) index only")
    p.add_argument("--config", help="TOML file with [analyzer], [chunker], [bm25] tables")
    p.add_argument("--set", dest="overrides", action="append", type=_override, default=[],
                   metavar="KEY=VALUE", help="override a config value, e.g. --set bm25.k1=1.2")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    p.add_argument("--store", metavar="DSN",
                   help="keep chunk text in PostgreSQL at this postgresql:// DSN instead of the bundle (its password "
                        "is never recorded: opening takes it from $RETRIEVAL_STORE_DSN, $PGPASSWORD or ~/.pgpass)")
    p.add_argument("--store-schema", default="retrieval", help="PostgreSQL schema for --store tables (default retrieval)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("search", help="search a bundle")
    p.add_argument("bundle")
    p.add_argument("text")
    p.add_argument("--mode", choices=["bm25", "dense", "hybrid", "prefilter"], default="bm25")
    p.add_argument("-k", type=search_k, default=10)
    p.add_argument("--filter", dest="filters", action="append", type=_filter, default=[], metavar="KEY=V1[,V2]",
                   help=FILTER_HELP)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("eval", help="score document retrieval against relevance judgements")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--mode", choices=["bm25", "dense", "hybrid", "prefilter"], default="bm25")
    p.add_argument("-k", type=search_k, default=100)
    p.add_argument("--filter", dest="filters", action="append", type=_filter, default=[], metavar="KEY=V1[,V2]",
                   help=FILTER_HELP)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question from a bundle, streaming the generated answer")
    p.add_argument("bundle")
    p.add_argument("question")
    p.add_argument("--budget-tokens", type=positive_int, default=512,
                   help="tokens the sources may take in the prompt (default 512, the generator's tokens)")
    p.add_argument("--generator", choices=["llama-cpp", "openai"], default="llama-cpp")
    p.add_argument("--model", help="llama-cpp: a GGUF file (default SmolLM2-135M-Instruct); openai: the model name")
    p.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
                   help="openai: the endpoint (default $OPENAI_BASE_URL or http://127.0.0.1:8000/v1); key from $OPENAI_API_KEY")
    p.add_argument("--mode", choices=["bm25", "dense", "hybrid", "prefilter"],
                   help="search mode (default hybrid for dense bundles, else bm25)")
    p.add_argument("-k", type=search_k, default=8, help="chunks retrieved before limiting (default 8)")
    p.add_argument("--max-tokens", type=positive_int, default=256, help="answer tokens at most (default 256)")
    p.add_argument("--no-compress", action="store_true", help="whole chunks in rank order instead of compressed sources")
    p.add_argument("--show-sources", action="store_true", help="print the cited sources after the answer")
    p.add_argument("--filter", dest="filters", action="append", type=_filter, default=[], metavar="KEY=V1[,V2]",
                   help=FILTER_HELP)
    p.add_argument("--json", action="store_true")

    from .service.main import add_serve_parser  # argparse only: grpc is imported when it runs
    from .updates.commands import add_update_parsers

    add_serve_parser(sub)
    add_update_parsers(sub)

    bench = sub.add_parser("bench", help="benchmarks against the libraries people use instead")
    bench_sub = bench.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    p = bench_sub.add_parser("embed", help="our ONNX embedder (fp32, int8) vs sentence-transformers")
    p.add_argument("--texts", help="corpus to take texts from (default: the built-in demo corpus)")
    p.add_argument("--limit", type=positive_int, default=256, help="number of texts (default 256)")
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--batch-sizes", type=positive_int_list, default=[8, 16, 32, 64], help="comma-separated batch sizes to sweep")
    p.add_argument("--repeats", type=positive_int, default=1)
    p.add_argument("--json", action="store_true")

    p = bench_sub.add_parser("sweep", help="recall@10 vs speed for each vector index kind and parameter value")
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

    p = bench_sub.add_parser("quality", help="nDCG@10 / recall@100 / latency per mode and search setting")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True)
    p.add_argument("--qrels", required=True)
    p.add_argument("--plot", help="write nDCG@10 vs p50 latency (Pareto points marked) to this PNG")
    p.add_argument("--json", action="store_true")

    p = bench_sub.add_parser("compress", help="context compression on SQuAD: ratio, answer retention, latency vs two baselines")
    p.add_argument("squad", help="a SQuAD v1.1 .json file")
    p.add_argument("--budget-tokens", type=positive_int, help="a fixed budget (default: each context's tokens / --ratio)")
    p.add_argument("--ratio", type=ratio, default=4.0, help="compression target when no fixed budget is given (default 4)")
    p.add_argument("--questions", type=positive_int, default=300, help="number of questions (default 300)")
    p.add_argument("--first-question", type=non_negative_int, default=0, help="index of the first question used")
    p.add_argument("-k", type=search_k, default=5, help="paragraphs retrieved per question (default 5)")
    p.add_argument("--json", action="store_true")

    p = bench_sub.add_parser("ask", help="time to first token with vs without context compression")
    p.add_argument("bundle")
    p.add_argument("--queries", required=True, help="questions (.jsonl)")
    p.add_argument("--qrels", help="only questions judged here (e.g. SciFact's qrels/test.tsv)")
    p.add_argument("--limit", type=positive_int, default=20, help="number of questions (default 20)")
    p.add_argument("--budget-tokens", type=positive_int, default=512)
    p.add_argument("-k", type=search_k, default=8)
    p.add_argument("--model", help="a GGUF file (default SmolLM2-135M-Instruct)")
    p.add_argument("--json", action="store_true")

    from .bench.load import add_load_parser  # argparse only: no grpc import until it runs

    add_load_parser(bench_sub)

    p = bench_sub.add_parser("bm25", help="ours vs rank-bm25 vs bm25s, same tokens, one thread")
    p.add_argument("corpus")
    p.add_argument("--queries", required=True)
    p.add_argument("--limit", type=positive_int, help="use only the first N queries")
    p.add_argument("--no-numba", action="store_true", help="skip bm25s's numba backend")
    p.add_argument("--repeats", type=positive_int, default=3, help="timed passes over the queries (median reported)")
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
    corpus = _corpus_arg(args.corpus, args.sql)
    started = time.perf_counter()
    engine = Engine.build(
        corpus,
        args.out,
        config,
        overwrite=args.overwrite,
        progress=sys.stderr.isatty(),
        store=args.store,
        store_schema=args.store_schema,
    )
    seconds = time.perf_counter() - started
    counts = engine.counts
    engine.close()
    result = {"chunks": counts["chunks"], "documents": counts["documents"], "seconds": seconds, "dir": str(args.out)}
    if args.json:
        _print_json(result)
    else:
        print(f"indexed {counts['documents']} documents as {counts['chunks']} chunks in {seconds:.2f} s → {args.out}")
    return 0


def _corpus_arg(corpus: str, sql: str | None) -> Any:
    """The corpus argument as ``Engine.build`` takes it: a PostgreSQL DSN becomes its query's rows."""
    from .errors import ConfigError, CorpusError
    from .stores.pg_connect import is_dsn

    if not is_dsn(corpus):
        if sql is not None:
            raise ConfigError("--sql is only for a postgresql:// corpus")
        return corpus
    if not sql:
        raise CorpusError("a postgresql:// corpus needs --sql \"SELECT id, title, text FROM ...\"")
    from .ingest.postgres_reader import PostgresCorpus

    return PostgresCorpus(corpus, sql)


def cmd_search(args: argparse.Namespace) -> int:
    from .engine import Engine

    engine = Engine.open(args.bundle)
    result = engine.search(args.text, k=args.k, mode=args.mode, filters=args.filters or None)
    if args.json:
        _print_json(
            {
                "hits": [{"id": h.id, "doc_id": h.doc_id, "score": h.score, "text": h.text, "title": h.title} for h in result.hits],
                "timings_ms": result.timings.as_dict(),
            }
        )
        return 0
    from .text.terminal import printable

    if not result.hits:
        print("no hits")
    for rank, hit in enumerate(result.hits, 1):
        snippet = " ".join(hit.text.split())
        snippet = snippet[:200] + ("…" if len(snippet) > 200 else "")
        print(f"{rank:>3}. {hit.score:8.3f}  {printable(hit.id)}  {printable(hit.title)}")
        print(f"     {printable(snippet)}")
    timings = ", ".join(f"{k} {v:.2f} ms" for k, v in result.timings.as_dict().items())
    print(f"({timings})", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    import asyncio

    from .answer import Answerer
    from .engine import Engine
    from .generation import make_generator

    engine = Engine.open(args.bundle)
    generator = make_generator(args.generator, **generator_options(args), max_tokens=args.max_tokens)
    try:
        answerer = Answerer(engine, generator, mode=args.mode, k=args.k, budget_tokens=args.budget_tokens,
                            compress=not args.no_compress, filters=args.filters or None)
        stream = answerer.stream(args.question)
        answer = asyncio.run(_print_stream(stream, echo=not args.json))
    finally:
        generator.close()
    metrics = stream.metrics.as_dict()
    if args.json:
        _print_json({"answer": answer, **metrics, "sources": [_source_json(s) for s in stream.sources]})
        return 0
    if args.show_sources:
        from .text.terminal import printable

        for source in stream.sources:
            title = f"  {printable(source.title)}" if source.title and source.title != source.doc_id else ""
            print(f"[{source.number}] {printable(source.doc_id)}{title}")
    ttft = "n/a" if metrics["ttft_ms"] is None else f"{metrics['ttft_ms']:.0f} ms"
    print(f"(first token {ttft}, {metrics['tokens_per_s']:.1f} tokens/s, prompt {metrics['prompt_tokens']} tokens, "
          f"context {metrics['context_tokens_before']} -> {metrics['context_tokens_after']} tokens)", file=sys.stderr)
    return 0


async def _print_stream(stream: Any, echo: bool) -> str:
    pieces = []
    async with stream:
        async for piece in stream:
            pieces.append(piece)
            if echo:
                sys.stdout.write(piece)
                sys.stdout.flush()
    if echo:
        sys.stdout.write("\n")
    return "".join(pieces)


def _source_json(source: Any) -> dict[str, Any]:
    return {"number": source.number, "chunk_id": source.chunk_id, "doc_id": source.doc_id, "title": source.title}


def cmd_eval(args: argparse.Namespace) -> int:
    from .bench.quality import evaluate
    from .engine import Engine
    from .ingest import read_qrels, read_queries

    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    engine = Engine.open(args.bundle)
    _check_judgements(engine, queries, qrels, args)
    result = evaluate(engine, queries, qrels, mode=args.mode, k=args.k, filters=args.filters or None)
    if args.json:
        _print_json(result)
    else:
        lat = result["latency_ms"]
        print(f"mode {args.mode}, {result['queries']} queries: nDCG@10 {result['ndcg@10']:.4f}, "
              f"recall@{args.k} {result[f'recall@{args.k}']:.4f}, "
              f"latency p50 {lat['p50']:.2f} ms p95 {lat['p95']:.2f} ms p99 {lat['p99']:.2f} ms")
    return 0


def _check_judgements(engine: Any, queries: list, qrels: dict, args: argparse.Namespace) -> None:
    """Refuse qrels that match nothing in the queries and the bundle; warn when only some do."""
    from .bench.judgements import match_judgements

    warning = match_judgements(engine, queries, qrels, args.qrels, args.queries).warning(args.qrels, args.queries)
    if warning:
        print(f"retrieval: warning: {warning}", file=sys.stderr)


def cmd_bench_bm25(args: argparse.Namespace) -> int:
    from .bench import bm25_peers
    from .errors import CorpusError
    from .ingest import read_queries

    queries = [text for _, text in read_queries(args.queries)]
    if args.limit:
        queries = queries[: args.limit]
    if not queries:
        raise CorpusError(f"{args.queries}: no queries")
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
    from .errors import CorpusError

    if args.texts:
        texts = embed_peers.texts_from(args.texts, args.limit)
        if not texts:  # checked before any model loads
            raise CorpusError(f"corpus {args.texts} has no documents to embed")
    else:
        from .ingest import demo_corpus

        texts = [f"{d.title} {d.text}" for _, d in zip(range(args.limit), demo_corpus())]
    progress = (lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() else None
    result = embed_peers.run(texts, threads=args.threads, batch_sizes=args.batch_sizes, repeats=args.repeats, progress=progress)
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


def cmd_bench_compress(args: argparse.Namespace) -> int:
    from .bench.compress import run

    say = None if args.json else (lambda msg: print(msg, file=sys.stderr))
    result = run(args.squad, budget_tokens=args.budget_tokens, ratio=args.ratio, questions=args.questions,
                 first_question=args.first_question, k=args.k, progress=say)
    if args.json:
        _print_json(result)
        return 0
    budget = f"{args.budget_tokens} tokens" if args.budget_tokens else f"each context's tokens / {args.ratio:g}"
    print(f"{result['questions']} questions ({result['answerable']} with the answer in the retrieved context), budget {budget}")
    print(f"{'method':<14}{'compression':>12}{'retention':>11}{'p50 ms':>9}")
    for name, row in (("ours", result), *result["baselines"].items()):
        print(f"{name:<14}{row['compression_ratio']:>11.2f}x{row['answer_retention']:>11.3f}{row['p50_ms']:>9.3f}")
    return 0


def cmd_bench_ask(args: argparse.Namespace) -> int:
    from .bench.ask import judged_questions, run
    from .engine import Engine
    from .generation import make_generator

    questions = judged_questions(args.queries, args.qrels, args.limit)
    engine = Engine.open(args.bundle)
    generator = make_generator("llama-cpp", **({"model_path": args.model} if args.model else {}))
    try:
        result = run(engine, generator, questions, budget_tokens=args.budget_tokens, k=args.k)
    finally:
        generator.close()
    if args.json:
        _print_json(result)
        return 0
    print(f"{result['questions']} questions, k={result['k']}, budget {result['budget_tokens']} tokens")
    print(f"{'setting':<14}{'TTFT p50 ms':>12}{'prefill ms':>12}{'prompt tok':>12}{'context tok':>13}")
    for name in ("compressed", "uncompressed"):
        r = result[name]
        print(f"{name:<14}{r['ttft_ms']:>12.1f}{r['prefill_ms']:>12.1f}{r['prompt_tokens']:>12.0f}{r['context_tokens_after']:>13.0f}")
    print(f"TTFT ratio (compressed / uncompressed): {result['ttft_ratio']:.3f}")
    return 0


def cmd_bench_quality(args: argparse.Namespace) -> int:
    from .bench import quality_sweep
    from .engine import Engine
    from .ingest import read_qrels, read_queries

    _check_plot_target(args.plot)
    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    engine = Engine.open(args.bundle)
    _check_judgements(engine, queries, qrels, args)
    progress = (lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() else None
    result = quality_sweep.run(engine, queries, qrels, progress=progress)
    if args.plot:
        from .bench.plot import plot_quality

        plot_quality(result, args.plot)
    if args.json:
        _print_json(result)
        return 0
    print(f"{'mode':<10}{'params':<52}{'nDCG@10':>9}{'R@100':>8}{'p50 ms':>8}{'p99 ms':>8}  pareto")
    for row in result["rows"]:
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "-"
        print(f"{row['mode']:<10}{params:<52}{row['ndcg@10']:>9.4f}{row['recall@100']:>8.3f}"
              f"{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}  {'*' if row['pareto'] else ''}")
    return 0


def cmd_bench_sweep(args: argparse.Namespace) -> int:
    from .bench import sweep
    from .errors import ConfigError

    _check_plot_target(args.plot)
    if os.path.exists(args.results_dir) and not os.path.isdir(args.results_dir):
        raise ConfigError(f"--results-dir {args.results_dir} is a file, not a directory")
    config = sweep.load_config(args.config) if args.config else None
    if args.baseline:  # read and checked now: a bad baseline must not cost a whole sweep
        from .bench.regression import check, load_baseline

        baseline = load_baseline(args.baseline)
    base, queries, gt, metric = _sweep_inputs(args)
    progress = (lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() else None
    result = sweep.run(base, queries, gt=gt, metric=metric, config=config, repeats=args.repeats,
                       threads=args.threads, progress=progress)
    result["results_file"] = str(sweep.write_jsonl(result, args.results_dir))
    if args.plot:
        from .bench.plot import plot

        plot(result, args.plot)
    failures: list[str] = []
    if args.baseline:
        failures = check(result, baseline, args.max_regression)
        result["regressions"] = failures
    if args.json:
        _print_json(result)
    else:
        print(f"{'index':<8}{'params':<40}{'recall@10':>10}{'qps':>10}{'batch qps':>11}{'p50 ms':>8}{'p99 ms':>8}{'build s':>8}{'MB':>7}")
        for row in result["rows"]:
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "-"
            print(f"{row['index']:<8}{params:<40}{row['recall@10']:>10.4f}{row['qps']:>10.0f}{row['batch_qps']:>11.0f}"
                  f"{row['p50_ms']:>8.3f}{row['p99_ms']:>8.3f}{row['build_s']:>8.2f}{row['memory_mb']:>7.1f}")
        overhead = result.get("overhead", {})
        if overhead.get("median_ratio_qps") is not None:
            print(f"raw faiss vs ours, one query per call: median qps ratio {overhead['median_ratio_qps']:.2f}")
    for message in failures:
        print(f"regression: {message}", file=sys.stderr)
    return 1 if failures else 0


def _check_plot_target(path: str | None) -> None:
    """Refuse a --plot path that is not ours to replace before the benchmark runs, not after."""
    if path:
        from .overwrite import check_replaceable_png

        check_replaceable_png(path)


def _sweep_inputs(args: argparse.Namespace):
    """(base, queries, ground truth or None, metric) from --fvecs files or a bundle."""
    import numpy as np

    from .bench.vecs import read_fvecs, read_ivecs
    from .errors import ConfigError, CorpusError

    if bool(args.bundle) == bool(args.fvecs):
        raise ConfigError("give either a bundle directory or --fvecs BASE.fvecs --queries Q.fvecs")
    if args.fvecs:
        if not args.queries:
            raise ConfigError("--fvecs needs --queries Q.fvecs")
        gt = read_ivecs(args.gt) if args.gt else None
        return read_fvecs(args.fvecs), read_fvecs(args.queries), gt, "l2"
    from .engine import Engine

    engine = Engine.open(args.bundle, faiss_threads=None)
    dense = engine.planner.dense
    if dense is None:
        raise ConfigError(f"{args.bundle} has no dense index to sweep (built with --no-dense)")
    base = np.ascontiguousarray(dense.vectors, dtype=np.float32)
    if args.queries:
        from .ingest import read_queries

        texts = [text for _, text in read_queries(args.queries)]
        if not texts:
            raise CorpusError(f"{args.queries}: no queries")
        queries = dense.embedder.embed(texts)
    else:  # a seeded sample of the chunks themselves
        pick = np.random.default_rng(0).choice(len(base), size=min(200, len(base)), replace=False)
        queries = base[pick]
    return base, queries, (read_ivecs(args.gt) if args.gt else None), "ip"


def cmd_serve(args: argparse.Namespace) -> int:
    from .service.main import cmd_serve as run_serve

    return run_serve(args)


def _update_command(name: str):
    def run(args: argparse.Namespace) -> int:
        from .updates import commands

        return getattr(commands, f"cmd_{name}")(args)

    return run


COMMANDS = {
    "index": cmd_index,
    "search": cmd_search,
    "eval": cmd_eval,
    "ask": cmd_ask,
    "serve": cmd_serve,
    **{name: _update_command(name) for name in ("update", "sync", "compact")},
}
def cmd_bench_load(args: argparse.Namespace) -> int:
    from .bench.load import cmd_bench_load as run_load

    return run_load(args)


BENCHES = {"load": cmd_bench_load, "compress": cmd_bench_compress, "ask": cmd_bench_ask, "bm25": cmd_bench_bm25, "embed": cmd_bench_embed, "quality": cmd_bench_quality, "sweep": cmd_bench_sweep}


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
