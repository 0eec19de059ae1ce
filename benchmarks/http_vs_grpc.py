"""HTTP/JSON against gRPC on the same server: closed loop, distinct queries, QPS and p99.

    python benchmarks/http_vs_grpc.py --bundle /path/to/scifact-bundle --concurrency 16 --mode hybrid

Starts one ``retrieval serve BUNDLE --http-port`` (result cache off, so every request does its
search), then drives it with ``retrieval.bench.loadgen`` over gRPC and over HTTP in turns
(gRPC, HTTP, gRPC, HTTP, ...), each turn with its own slice of queries: no query repeats across
the whole run, so the embedding cache never answers. Queries are pairs of SQuAD questions
(5,385 distinct questions give millions of distinct pairs; a turn at ~500 QPS needs ~10,000).
Prints one JSON object: each turn's report, and the medians per transport with HTTP/gRPC ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from retrieval.bench.loadgen import LoadSpec, run_load, summarize

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "dev-v1.1.even-articles.json"


def squad_questions(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    seen: dict[str, None] = {}
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                seen.setdefault(" ".join(qa["question"].split()), None)
    return list(seen)


def distinct_queries(questions: list[str], n: int) -> list[str]:
    """``n`` distinct queries, each two questions joined (pairs in a fixed, scrambled order)."""
    count = len(questions)
    made: dict[str, None] = {}
    i = 0
    while len(made) < n:
        first, second = questions[i % count], questions[(i * 7919 + i // count + 1) % count]
        if first != second:
            made.setdefault(f"{first} {second}", None)
        i += 1
    return list(made)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 180.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per turn")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--turns", type=int, default=3, help="turns per transport (alternating)")
    parser.add_argument("--workers", type=int, default=0, help="the server's --workers")
    parser.add_argument("--queries-per-turn", type=int, default=12_000)
    args = parser.parse_args()

    per_turn = args.queries_per_turn
    questions = distinct_queries(squad_questions(SQUAD), per_turn * 2 * args.turns)
    grpc_port, http_port = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "retrieval.cli", "serve", args.bundle, "--port", str(grpc_port), "--http-port",
         str(http_port), "--metrics-port", "0", "--result-cache-size", "0", "--workers", str(args.workers),
         "--generator", "none", "--log-level", "warning"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    turns = []
    try:
        wait_for(http_port)
        for turn in range(2 * args.turns):
            transport = "grpc" if turn % 2 == 0 else "http"
            port = grpc_port if transport == "grpc" else http_port
            queries = tuple(questions[turn * per_turn:(turn + 1) * per_turn])
            spec = LoadSpec(f"127.0.0.1:{port}", queries=queries, concurrency=args.concurrency,
                            duration_s=args.duration, mode=args.mode, k=args.k, warmup_s=args.warmup,
                            deadline_s=30.0, transport=transport)  # fmt: skip
            report = summarize(asyncio.run(run_load(spec)), spec)
            report.pop("environment", None)
            # Warm-up requests came first from the same slice: past the slice, queries repeat.
            report["queries_repeated"] = report["requests"] + int(args.warmup * report["qps"] * 1.5) > len(queries)
            turns.append(report)
            print(f"{transport}: {report['qps']:.1f} qps, p50 {report['p50_ms']:.1f} ms, p99 {report['p99_ms']:.1f} ms, "
                  f"errors {report['errors']}", file=sys.stderr)  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    summary = {}
    for transport in ("grpc", "http"):
        mine = [t for t in turns if t["transport"] == transport]
        summary[transport] = {key: statistics.median(t[key] for t in mine) for key in ("qps", "p50_ms", "p99_ms")}
    summary["http_over_grpc"] = {key: summary["http"][key] / summary["grpc"][key] for key in ("qps", "p50_ms", "p99_ms")}
    print(json.dumps({"bundle": args.bundle, "mode": args.mode, "concurrency": args.concurrency, "k": args.k,
                      "distinct_queries_per_turn": per_turn, "turns": turns, "summary": summary}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
