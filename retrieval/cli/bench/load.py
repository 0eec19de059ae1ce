"""`retrieval bench load`: drive a running `retrieval serve` over gRPC and report throughput
and latency (the generator itself is ``retrieval.bench.loadgen``).

    retrieval bench load --target 127.0.0.1:50051 --concurrency 32 --duration 10 --json
    retrieval bench load --target 127.0.0.1:50051 --rate 200 --duration 30 --queries q.jsonl
    retrieval bench load --target 127.0.0.1:8080 --http --concurrency 16    # serve --http-port 8080

``--json`` prints ``{"qps", "p50_ms", "p95_ms", "p99_ms", "errors", "requests", ...}``: qps counts
successful requests per second, the percentiles are over successful requests, ``errors`` counts
every other outcome (``errors_by_code`` splits them by gRPC status name).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ...errors import ConfigError
from ..args import positive_float, positive_int, seconds
from ..choices import ARRIVAL_CHOICES, MODE_CHOICES
from ..output import print_json


def _target(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("load", help="drive a running `retrieval serve` over gRPC: qps and latency")
    p.add_argument("--target", required=True, type=_target, help="the server, HOST:PORT (with --http: its --http-port)")
    p.add_argument("--http", action="store_true", help="POST /v1/search as JSON over HTTP instead of gRPC")
    p.add_argument("--concurrency", type=positive_int, default=8,
                   help="closed loop: clients sending back to back; open loop: requests in flight at most (default 8)")
    p.add_argument("--duration", type=positive_float, default=10.0, help="measured seconds (default 10)")
    p.add_argument("--rate", type=positive_float,
                   help="open loop at this many requests/s (latency from the intended send time); default: closed loop")
    p.add_argument("--arrivals", choices=ARRIVAL_CHOICES, default="poisson",
                   help="open loop arrivals: Poisson (default) or a fixed interval")
    p.add_argument("--seed", type=int, default=0, help="seed of the Poisson arrivals (default 0)")
    p.add_argument("--queries", help="query texts: a .jsonl with \"text\" fields, or one query per line (default: a built-in list)")
    p.add_argument("--mode", choices=MODE_CHOICES, help="search mode (default: the server's)")
    p.add_argument("-k", type=positive_int, default=10)
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token", help="bearer token sent as 'authorization: Bearer TOKEN'")
    auth.add_argument("--token-file", help="read the bearer token from this file")
    p.add_argument("--tls-ca", help="PEM CA certificate(s): connect with TLS, verifying the server against them")
    p.add_argument("--deadline-ms", type=positive_float, default=10_000.0, help="per-request deadline (default 10000)")
    p.add_argument("--warmup", type=seconds, default=1.0, help="unrecorded seconds of the same load first (default 1)")
    p.add_argument("--connect-timeout", type=positive_float, default=5.0, help="seconds to wait for the server (default 5)")
    p.add_argument("--json", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    import asyncio

    from ...bench.loadgen import DEFAULT_QUERIES, LoadSpec, run_load, summarize

    queries: tuple[str, ...] = DEFAULT_QUERIES
    if args.queries:
        from ...ingest.readers import read_query_texts

        queries = tuple(read_query_texts(args.queries))
        if not queries:
            raise ConfigError(f"{args.queries} holds no queries")
    spec = LoadSpec(
        target=args.target,
        queries=queries,
        concurrency=args.concurrency,
        duration_s=args.duration,
        rate=args.rate,
        arrivals=args.arrivals,
        mode=args.mode or "",
        k=args.k,
        deadline_s=args.deadline_ms / 1000.0,
        token=_token(args),
        tls_ca=_read_bytes(args.tls_ca, "--tls-ca") if args.tls_ca else None,
        warmup_s=args.warmup,
        seed=args.seed,
        connect_timeout_s=args.connect_timeout,
        transport="http" if args.http else "grpc",
    )
    report = summarize(asyncio.run(run_load(spec)), spec)
    if args.json:
        print_json(report)
    else:
        print(format_table(report))
    return 0


def format_table(report: dict[str, Any]) -> str:
    """The human-readable form of a ``summarize`` report."""
    if report["loop"] == "closed":
        how = f"closed loop, {report['concurrency']} concurrent"
    else:
        how = f"open loop, {report['rate']:g} req/s ({report['arrivals']}), at most {report['concurrency']} in flight"
    lines = [
        f"{how}, {report['seconds']:.1f} s against {report['target']} (mode {report['mode'] or 'default'}, k {report['k']})",
        f"{'requests':>9}{'ok':>9}{'errors':>8}{'qps':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
        f"{report['requests']:>9}{report['ok']:>9}{report['errors']:>8}{report['qps']:>10.1f}"
        f"{report['p50_ms']:>9.2f}{report['p95_ms']:>9.2f}{report['p99_ms']:>9.2f}",
    ]
    if report["errors_by_code"]:
        lines.append("errors: " + ", ".join(f"{code} {n}" for code, n in report["errors_by_code"].items()))
    if report["late_sends"]:
        lines.append(f"{report['late_sends']} requests sent over 1 ms late (the client or the in-flight cap held them back)")
    return "\n".join(lines)


def _token(args: argparse.Namespace) -> str | None:
    if args.token is not None:
        token = args.token.strip()
    elif args.token_file:
        token = _read_bytes(args.token_file, "--token-file").decode("utf-8", errors="replace").strip()
    else:
        return None
    if not token:
        raise ConfigError("the bearer token is empty")
    if not (token.isascii() and token.isprintable()):
        raise ConfigError("the bearer token must be printable ASCII (it travels as gRPC metadata)")
    return token


def _read_bytes(path: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{option}: cannot read {path}: {exc.strerror or exc}") from None
