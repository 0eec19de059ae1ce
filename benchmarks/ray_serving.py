"""Serving a collection through Ray Serve against `retrieval serve` on one machine, in one run.

    .venv/bin/python benchmarks/ray_serving.py COLLECTION --queries Q.jsonl [--duration 20]

For each setup in turn (``retrieval serve COLLECTION``; then ``--ray`` with 1 and with 2 replicas
per shard, on a local Ray cluster the serve process starts), the server starts as a child
process, then ``retrieval bench load`` drives it closed loop at ``--concurrency`` (16) in
``--mode`` (hybrid) for ``--duration`` seconds after a warm-up. Every query is distinct: each of
the given queries gets a numbered suffix (a token no chunk holds), and there are more of them
than requests, so no cache (results, embeddings) ever hits; the result caches are off as well.
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retrieval.ingest import read_queries

SETUPS = {
    "serve": [],
    "ray_1_replica": ["--ray", "--replicas", "1", "--replica-cpus", "0.1"],
    "ray_2_replicas": ["--ray", "--replicas", "2", "--replica-cpus", "0.1"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_serving(port: int, process: subprocess.Popen, timeout: float = 300) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server exited: {process.stderr.read()[-2000:]}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise SystemExit(f"the server on port {port} did not report SERVING in {timeout:.0f} s")


def run_setup(name: str, extra: list[str], args: argparse.Namespace, queries_file: Path) -> dict:
    port = _free_port()
    command = [sys.executable, "-m", "retrieval.cli", "serve", args.collection, "--port", str(port), "--metrics-port", "0",
               "--generator", "none", "--result-cache-size", "0", "--log-level", "warning", *extra]
    started = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_serving(port, server)
        ready_s = time.perf_counter() - started
        load = subprocess.run(
            [sys.executable, "-m", "retrieval.cli", "bench", "load", "--target", f"127.0.0.1:{port}",
             "--concurrency", str(args.concurrency), "--duration", str(args.duration), "--warmup", str(args.warmup),
             "--mode", args.mode, "--queries", str(queries_file), "--json"],
            capture_output=True, text=True, check=True)
        result = json.loads(load.stdout)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    return {"setup": name, "ready_s": round(ready_s, 1), **{k: result[k] for k in ("qps", "p50_ms", "p99_ms", "errors", "requests")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("collection")
    p.add_argument("--queries", required=True)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--mode", default="hybrid")
    p.add_argument("--setups", default=",".join(SETUPS), help="comma-separated, of: " + ", ".join(SETUPS))
    args = p.parse_args()
    base = [text for _, text in read_queries(args.queries)]
    with tempfile.TemporaryDirectory() as tmp:
        queries_file = Path(tmp) / "distinct.txt"
        count = 200_000  # more than any run sends
        queries_file.write_text("\n".join(f"{base[i % len(base)]} q{i}" for i in range(count)) + "\n", encoding="utf-8")
        rows = [run_setup(name, SETUPS[name], args, queries_file) for name in args.setups.split(",")]
    serve = next((r for r in rows if r["setup"] == "serve"), None)
    for row in rows:
        if serve is not None:
            row["qps_vs_serve"] = round(row["qps"] / serve["qps"], 3)
    print(json.dumps({"collection": args.collection, "mode": args.mode, "concurrency": args.concurrency,
                      "duration_s": args.duration, "rows": rows,
                      "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count(),
                                  "platform": platform.platform()}}, indent=2))


if __name__ == "__main__":
    main()
