"""``mode="auto"`` against hybrid in the service, open loop: p99 per arrival rate, and the highest
rate each sustains at p99 <= 50 ms.

    .venv/bin/python benchmarks/routing_load.py --bundle indexes/scifact --rates 40 60 80 100 130 170 220

Queries: SciFact's claims (test and dev, 705 distinct), in order, never repeated within a run.
Every run gets a fresh ``retrieval serve`` (result cache off), so no cache of an earlier run
answers; a run lasts at most ``--duration`` seconds and never longer than the claims last at
its rate. Runs alternate between the two modes at each rate. Poisson arrivals; latency counts
from the intended send time (no coordinated omission); at most 200 calls in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from retrieval.bench.loadgen import LoadSpec, run_load, summarize
from retrieval.ingest import read_queries

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
P99_LIMIT_MS = 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(bundle: str) -> tuple[subprocess.Popen, int]:
    import grpc

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "retrieval.cli", "serve", bundle, "--port", str(port), "--metrics-port", "0",
         "--result-cache-size", "0", "--generator", "none", "--log-level", "warning"],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + 180
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return process, port
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not become ready")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--rates", type=float, nargs="+", default=[40, 60, 80, 100, 130, 170, 220])
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    claims = list(dict.fromkeys(text for _, text in read_queries(SCIFACT / "queries.jsonl")
                                + read_queries(SCIFACT / "dev" / "queries.jsonl")))  # fmt: skip
    runs = []
    for rate in args.rates:
        for mode in ("hybrid", "auto"):
            process, port = serve(args.bundle)
            try:
                duration = min(args.duration, 0.95 * len(claims) / rate)
                spec = LoadSpec(f"127.0.0.1:{port}", queries=tuple(claims), concurrency=200, duration_s=duration,
                                rate=rate, mode=mode, k=10, deadline_s=10.0, seed=1)  # fmt: skip
                report = summarize(asyncio.run(run_load(spec)), spec)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            row = {"mode": mode, "rate": rate, "seconds": round(report["seconds"], 2), "qps": round(report["qps"], 1),
                   "p50_ms": round(report["p50_ms"], 2), "p99_ms": round(report["p99_ms"], 2),
                   "errors": report["errors"], "requests": report["requests"]}  # fmt: skip
            runs.append(row)
            print(json.dumps(row), file=sys.stderr)
    summary = {}
    for mode in ("hybrid", "auto"):
        ok = [r["rate"] for r in runs if r["mode"] == mode and r["p99_ms"] <= P99_LIMIT_MS and r["errors"] == 0]
        summary[mode] = {"max_rate_at_p99_50ms": max(ok) if ok else None}
    # The first rate at which hybrid's p99 passes 50 ms, and auto's p99 there.
    over = [r["rate"] for r in runs if r["mode"] == "hybrid" and r["p99_ms"] > P99_LIMIT_MS]
    if over:
        at = min(over)
        summary["at_hybrid_p99_over_50ms"] = {
            "rate": at, **{f"{r['mode']}_p99_ms": r["p99_ms"] for r in runs if r["rate"] == at}
        }
    json.dump({"bundle": args.bundle, "queries": len(claims), "runs": runs, "summary": summary}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
