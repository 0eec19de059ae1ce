"""``retrieval serve DIR``: serve a bundle over gRPC until SIGTERM or SIGINT, then drain.

Declaring the options imports nothing heavy: gRPC, the engine and the generator load when the
command runs (the server's run loop is ``retrieval.service.run_loop.serve``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .args import add_generator_options, generator_options, non_negative_int, port, positive_int
from .choices import LOG_LEVEL_CHOICES, MODE_CHOICES, SERVE_GENERATOR_CHOICES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="serve a bundle over gRPC (retrieval.v1.Retrieval, health, reflection, metrics)")
    add_serve_arguments(p)
    return p


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``serve`` (also of ``python -m retrieval.service.main``)."""
    p.add_argument("bundle", help="the index bundle directory to serve")
    net = p.add_argument_group("network")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; others need auth)")
    net.add_argument("--port", type=port, default=50051, help="gRPC port (default 50051; 0 picks a free one)")
    net.add_argument("--http-port", type=port,
                     help="also serve the API as HTTP/JSON on this port (POST /v1/search, ...; 0 picks a free one)")
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
    load.add_argument("--default-mode", choices=MODE_CHOICES,
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
    add_generator_options(gen, SERVE_GENERATOR_CHOICES,
                          help="what Answer generates with (default llama-cpp; none: Answer is unavailable)")
    gen.add_argument("--generator-threads", type=positive_int, help="llama-cpp: CPU threads (default: every core)")
    gen.add_argument("--max-tokens", type=positive_int, default=256, help="answer tokens when a request sets none (default 256)")
    gen.add_argument("--max-answer-tokens", type=positive_int, default=1024, help="answer tokens a request may ask for (default 1024)")
    gen.add_argument("--max-answer-streams", type=positive_int, default=4, help="answers generating or queued at once (default 4)")
    scale = p.add_argument_group("scale-out (a sharded collection on Ray Serve)")
    scale.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="serve the collection on Ray Serve (HOST:PORT of the head, ray://..., auto; alone: a local "
                            "cluster): a deployment per shard, this process the gRPC ingress")
    scale.add_argument("--replicas", type=_replicas, default=1,
                       help="with --ray: replicas per shard, or auto (autoscaled on ongoing requests; default 1)")
    scale.add_argument("--target-ongoing-requests", type=float, default=2.0,
                       help="with --replicas auto: ongoing requests per replica to scale towards (default 2)")
    scale.add_argument("--max-replicas", type=positive_int, default=8, help="with --replicas auto: the most per shard (default 8)")
    scale.add_argument("--replica-cpus", type=float, default=1.0, help="with --ray: CPUs reserved per replica (default 1)")
    scale.add_argument("--shard-timeout", type=float, default=10.0,
                       help="with --ray: seconds a shard may take before the call is UNAVAILABLE naming it (default 10)")
    life = p.add_argument_group("lifecycle")
    life.add_argument("--grace", type=float, default=10.0, help="seconds in-flight calls get to finish on SIGTERM (default 10)")
    life.add_argument("--reload-interval", type=float, default=5.0,
                      help="seconds between checks for a new bundle version (sync/update/compact); 0: never (default 5)")
    life.add_argument("--drain-delay", type=float, default=0.0,
                      help="seconds health reports NOT_SERVING before calls are refused, on SIGTERM (default 0)")
    life.add_argument("--log-level", choices=LOG_LEVEL_CHOICES, default="info", help="default info: one JSON line per request")


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Any:
    """The ``ServiceConfig`` the options describe (``ConfigError`` for a bad combination)."""
    from pathlib import Path

    from ..service.auth import load_tokens
    from ..service.config import ServiceConfig
    from ..service.warmup import read_warmup_queries

    return ServiceConfig(
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        http_port=args.http_port,
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


def run(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM/SIGINT, then drain. Errors are ``RetrievalError``s (one line)."""
    import asyncio

    from ..engine import Engine
    from ..service.run_loop import serve

    config = config_from_args(args)  # before loading anything: a refused setup fails in milliseconds
    _configure_logging(args.log_level)
    if args.ray is not None:
        return _run_on_ray(args, config)
    with Engine.open(args.bundle, embedding_threads=args.embed_threads) as engine:
        generator = _make_generator(args, config.default_answer_tokens)
        try:
            return asyncio.run(serve(engine, config, generator))
        finally:
            if generator is not None:
                generator.close()


def _run_on_ray(args: argparse.Namespace, config: Any) -> int:
    """Deploy the collection's shards on Ray Serve, then serve gRPC here over them until stopped."""
    import asyncio
    import dataclasses
    from pathlib import Path

    from ..cluster.serving import Deployment, ServedCollection
    from ..collection import is_collection
    from ..errors import ConfigError
    from ..service.run_loop import serve

    if not is_collection(args.bundle):
        raise ConfigError(f"--ray serves a sharded collection; {args.bundle} is not one (retrieval index --shards N)")
    deployment = Deployment(replicas=args.replicas, target_ongoing_requests=args.target_ongoing_requests,
                            max_replicas=args.max_replicas, replica_cpus=args.replica_cpus, timeout_s=args.shard_timeout,
                            embed_max_batch=config.embed_max_batch, embed_max_wait_ms=config.embed_max_wait_ms,
                            embed_threads=args.embed_threads or 0)
    served = ServedCollection(Path(args.bundle), args.ray or None, deployment)
    try:
        with served.engine() as engine:
            generator = _make_generator(args, config.default_answer_tokens)
            try:
                # The deployments serve one pinned version: no following of updates here.
                return asyncio.run(serve(engine, dataclasses.replace(config, reload_interval_s=0), generator))
            finally:
                if generator is not None:
                    generator.close()
    finally:
        served.close()


def _replicas(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a replica count >= 1 or auto, got {value!r}")
    return count


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
