"""``retrieval serve DIR``: the command-line front of the gRPC service.

``add_serve_parser(subparsers)`` declares the options and ``cmd_serve(args)`` runs the server
until SIGTERM or SIGINT, then drains (see ``server.py``). ``python -m retrieval.service.main DIR``
runs the same command on its own. Importing this module is cheap: gRPC, the engine and the
generator load when the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence

from ..cli_args import generator_options, non_negative_int, port, positive_int

GENERATORS = ("llama-cpp", "openai", "none")
LOG_LEVELS = ("debug", "info", "warning", "error")


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to ``subparsers`` (of ``retrieval``'s parser)."""
    p = subparsers.add_parser("serve", help="serve a bundle over gRPC (retrieval.v1.Retrieval, health, reflection, metrics)")
    add_serve_arguments(p)
    return p


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="the index bundle directory to serve")
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need auth)")
    net.add_argument("--port", type=port, default=50051, help="gRPC port (default 50051; 0 picks a free one)")
    net.add_argument("--metrics-port", type=port, default=9464, help="Prometheus /metrics port (default 9464; 0 = off)")
    net.add_argument("--metrics-host", help="address of the /metrics endpoint, which has no auth (default: --host)")
    net.add_argument("--max-receive-bytes", type=positive_int, default=4 << 20, help="largest request message (default 4 MiB)")
    net.add_argument("--max-send-bytes", type=positive_int, default=16 << 20, help="largest response message (default 16 MiB)")
    sec = p.add_argument_group("security")
    sec.add_argument("--token-file", help="bearer tokens, one per line (also $RETRIEVAL_TOKENS, comma-separated)")
    sec.add_argument("--insecure-no-auth", action="store_true", help="allow a non-loopback --host without tokens")
    sec.add_argument("--tls-cert", help="PEM certificate chain (with --tls-key: serve TLS)")
    sec.add_argument("--tls-key", help="PEM private key")
    load = p.add_argument_group("load")
    load.add_argument("--embed-threads", type=positive_int,
                      help="onnxruntime threads per embedding call (default: the bundle's setting, all cores; "
                           "measured on 2 cores at concurrency 32: 168 q/s hybrid with 2, 120 with 1)")
    load.add_argument("--workers", type=non_negative_int, default=0, help="CPU worker threads (default 0: one per core, at most 4)")
    load.add_argument("--max-inflight", type=positive_int, default=64, help="calls doing work at once (default 64)")
    load.add_argument("--queue-limit", type=non_negative_int, default=256,
                      help="calls waiting for a slot before new ones get RESOURCE_EXHAUSTED (default 256)")
    load.add_argument("--max-query-chars", type=positive_int, default=4096, help="longest query or question (default 4096)")
    load.add_argument("--max-batch-queries", type=positive_int, default=256, help="queries per SearchBatch call (default 256)")
    load.add_argument("--default-mode", choices=["bm25", "dense", "hybrid", "prefilter"],
                      help="mode of requests that name none (default hybrid for dense bundles, else bm25)")
    load.add_argument("--embed-max-batch", type=positive_int, default=32, help="queries per embedding batch (default 32)")
    load.add_argument("--embed-max-wait-ms", type=float, default=2.0, help="longest wait for batch-mates (default 2 ms)")
    cache = p.add_argument_group("caches")
    cache.add_argument("--result-cache-size", type=non_negative_int, default=4096, help="cached results (default 4096; 0 = off)")
    cache.add_argument("--result-cache-ttl", type=float, help="seconds a cached result stays valid (default: until evicted)")
    cache.add_argument("--semantic-cache-threshold", type=float,
                       help="reuse results of a cached query at least this cosine-similar (e.g. 0.97; default off)")
    cache.add_argument("--semantic-cache-size", type=positive_int, default=1000, help="semantic cache entries (default 1000)")
    cache.add_argument("--warmup-queries", help="recent queries (.jsonl or one per line) to warm the caches with before SERVING")
    gen = p.add_argument_group("answers")
    gen.add_argument("--generator", choices=GENERATORS, default="llama-cpp",
                     help="what Answer generates with (default llama-cpp; none: Answer is unavailable)")
    gen.add_argument("--model", help="llama-cpp: a GGUF file (default SmolLM2-135M-Instruct); openai: the model name")
    gen.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
                     help="openai: the endpoint (default $OPENAI_BASE_URL or http://127.0.0.1:8000/v1); key from $OPENAI_API_KEY")
    gen.add_argument("--generator-threads", type=positive_int, help="llama-cpp: CPU threads (default: every core)")
    gen.add_argument("--max-tokens", type=positive_int, default=256, help="answer tokens when a request sets none (default 256)")
    gen.add_argument("--max-answer-tokens", type=positive_int, default=1024, help="answer tokens a request may ask for (default 1024)")
    gen.add_argument("--max-answer-streams", type=positive_int, default=4, help="answers generating or queued at once (default 4)")
    life = p.add_argument_group("lifecycle")
    life.add_argument("--grace", type=float, default=10.0, help="seconds in-flight calls get to finish on SIGTERM (default 10)")
    life.add_argument("--reload-interval", type=float, default=5.0,
                      help="seconds between checks for a new bundle version (sync/update/compact); 0: never (default 5)")
    life.add_argument("--drain-delay", type=float, default=0.0,
                      help="seconds health reports NOT_SERVING before calls are refused, on SIGTERM (default 0)")
    life.add_argument("--log-level", choices=LOG_LEVELS, default="info", help="default info: one JSON line per request")


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Any:
    """The ``ServiceConfig`` the options describe (``ConfigError`` for a bad combination)."""
    from pathlib import Path

    from .auth import load_tokens
    from .config import ServiceConfig
    from .warmup import read_warmup_queries

    return ServiceConfig(
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        workers=args.workers,
        max_inflight=args.max_inflight,
        queue_limit=args.queue_limit,
        max_query_chars=args.max_query_chars,
        default_mode=args.default_mode,
        max_batch_queries=args.max_batch_queries,
        embed_max_batch=args.embed_max_batch,
        embed_max_wait_ms=args.embed_max_wait_ms,
        result_cache_size=args.result_cache_size,
        result_cache_ttl_s=args.result_cache_ttl,
        semantic_cache_threshold=args.semantic_cache_threshold,
        semantic_cache_size=args.semantic_cache_size,
        max_answer_streams=args.max_answer_streams,
        default_answer_tokens=min(args.max_tokens, args.max_answer_tokens),
        max_answer_tokens=args.max_answer_tokens,
        max_receive_bytes=args.max_receive_bytes,
        max_send_bytes=args.max_send_bytes,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        tokens=load_tokens(args.token_file, environ),
        insecure_no_auth=args.insecure_no_auth,
        grace_s=args.grace,
        drain_delay_s=args.drain_delay,
        reload_interval_s=args.reload_interval,
        warmup_queries=tuple(read_warmup_queries(args.warmup_queries)) if args.warmup_queries else (),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT, then drain. Errors are ``RetrievalError``s (one line)."""
    import asyncio

    from ..engine import Engine

    config = config_from_args(args)  # before loading anything: a refused setup fails in milliseconds
    _configure_logging(args.log_level)
    engine = Engine.open(args.bundle, embedding_threads=args.embed_threads)
    generator = _make_generator(args, config.default_answer_tokens)
    try:
        return asyncio.run(serve(engine, config, generator))
    finally:
        if generator is not None:
            generator.close()


async def serve(engine: Any, config: Any, generator: Any = None) -> int:
    """Start, serve until SIGTERM or SIGINT (or the server ends), drain and stop."""
    import asyncio
    import signal

    from .server import RetrievalServer

    server = RetrievalServer(engine, config, generator=generator)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        stopping = asyncio.ensure_future(stop_requested.wait())
        starting = asyncio.ensure_future(server.start())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start raises here
            # Not cancelled below: cancelling gRPC's termination wait would break its shutdown.
            running = asyncio.ensure_future(server.wait_for_termination())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            await server.stop()
            await running
        else:
            starting.cancel()  # a signal during warm-up
            await asyncio.gather(starting, return_exceptions=True)
            await server.stop()
        stopping.cancel()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


def _make_generator(args: argparse.Namespace, max_tokens: int) -> Any:
    if args.generator == "none":
        return None
    from ..generation import make_generator

    options = generator_options(args)
    if args.generator == "llama-cpp" and args.generator_threads:
        options["threads"] = args.generator_threads
    return make_generator(args.generator, max_tokens=max_tokens, **options)


def _configure_logging(level: str) -> None:
    """Log lines (request lines are JSON) to stderr, unless the process configured logging."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(stream=sys.stderr, format="%(message)s")
    logging.getLogger("retrieval").setLevel(level.upper())




class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + message
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m retrieval.service.main DIR [options]``: ``retrieval serve`` on its own."""
    from ..errors import RetrievalError

    parser = _Parser(prog="retrieval serve", description="Serve an index bundle over gRPC.")
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_serve(args)
    except RetrievalError as exc:
        print(f"retrieval: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"retrieval: error: {exc.strerror or exc}: {exc.filename}" if exc.filename else f"retrieval: error: {exc}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
