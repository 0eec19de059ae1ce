"""Graceful drain, SIGTERM, startup refusals and the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from retrieval.errors import ConfigError
from retrieval.service.config import ServiceConfig
from retrieval.service.main import add_serve_parser, config_from_args, main
from retrieval.service.protos import retrieval_pb2 as pb

from .fakes import ScriptedEngine
from .harness import ServerThread, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _health(channel: grpc.Channel) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5).status


def test_stop_drains_in_flight_calls_under_load(engine) -> None:
    slow = ScriptedEngine(engine, delay_s=0.3)
    server = ServerThread(slow, workers=2, max_inflight=4, result_cache_size=0, drain_delay_s=0.3).start()
    try:
        with server.channel() as channel, server.channel() as probe:
            stub = server.stub(channel)
            calls = [stub.Search.future(pb.SearchRequest(query=f"json {i}", mode="bm25"), timeout=30) for i in range(12)]
            calls.append(stub.SearchBatch.future(pb.SearchBatchRequest(requests=[pb.SearchRequest(query="json b")]), timeout=30))
            wait_for(lambda: server.server.lifecycle.active == 13)
            assert _health(probe) == SERVING
            stopping = asyncio.run_coroutine_threadsafe(server.server.stop(grace=20), server.loop)
            # Health turns NOT_SERVING first, while the in-flight calls are still running.
            wait_for(lambda: _health(probe) == NOT_SERVING)
            assert server.server.lifecycle.active > 0
            # Then new calls are refused (retry elsewhere) while the old ones finish.
            wait_for(lambda: _refused(stub))
            results = [call.result() for call in calls]  # none failed
            assert all(r.hits for r in results[:-1]) and results[-1].responses[0].hits
            stopping.result(timeout=30)
    finally:
        server.close_loop()


def _refused(stub) -> bool:
    try:
        stub.Search(pb.SearchRequest(query="late json", mode="bm25"), timeout=5)
    except grpc.RpcError as exc:
        assert exc.code() is grpc.StatusCode.UNAVAILABLE
        return True
    return False


def test_the_grace_period_bounds_the_drain(engine) -> None:
    slow = ScriptedEngine(engine, delay_s=3.0)
    server = ServerThread(slow, workers=1, result_cache_size=0).start()
    try:
        with server.channel() as channel:
            call = server.stub(channel).Search.future(pb.SearchRequest(query="json slow", mode="bm25"), timeout=30)
            wait_for(lambda: slow.calls)
            started = time.perf_counter()
            server.run(server.server.stop(grace=0.5))
            assert time.perf_counter() - started < 2.5  # did not wait for the 3 s search
            with pytest.raises(grpc.RpcError) as info:
                call.result()
            assert info.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    finally:
        server.close_loop()


def test_a_port_in_use_fails_the_start_clearly(engine, server) -> None:
    second = ServerThread(engine, port=server.server.port)
    try:
        with pytest.raises(ConfigError, match=f"port 127.0.0.1:{server.server.port} is already in use"):
            second.start()
    finally:
        second.close_loop()


def test_sigterm_drains_and_exits_cleanly(bundle: Path, tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    queries = tmp_path / "recent.txt"
    queries.write_text("parse json\nread a file\n", encoding="utf-8")
    command = [sys.executable, "-m", "retrieval.service.main", str(bundle), "--port", str(port),
               "--metrics-port", str(metrics_port), "--generator", "none", "--drain-delay", "1.0",
               "--warmup-queries", str(queries)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            wait_for(lambda: _serving(channel), timeout=90, what="the server to report SERVING")
            response = pb.SearchRequest(query="parse json", k=1)
            assert channel.unary_unary(
                "/retrieval.v1.Retrieval/Search", pb.SearchRequest.SerializeToString, pb.SearchResponse.FromString
            )(response, timeout=10).hits[0].chunk_id == "json#0"
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as page:
                metrics = page.read().decode()
            assert 'retrieval_requests_total{code="OK",method="Search"} 1.0' in metrics
            process.send_signal(signal.SIGTERM)
            wait_for(lambda: _health(channel) == NOT_SERVING, timeout=5, what="NOT_SERVING during the drain")
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "warm-up: " in stderr and "draining" in stderr and stderr.rstrip().endswith("stopped")


def _serving(channel: grpc.Channel) -> bool:
    try:
        return _health(channel) == SERVING
    except grpc.RpcError:
        return False


# -- command line ------------------------------------------------------------------------------


def test_a_public_host_without_tokens_is_refused_in_one_line(bundle: Path, capsys) -> None:
    env_tokens = os.environ.pop("RETRIEVAL_TOKENS", None)
    try:
        assert main([str(bundle), "--host", "0.0.0.0", "--generator", "none"]) == 2
    finally:
        if env_tokens is not None:
            os.environ["RETRIEVAL_TOKENS"] = env_tokens
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("retrieval: error: refusing to listen on 0.0.0.0 without authentication")


def test_serve_options_become_the_config(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="retrieval")
    add_serve_parser(parser.add_subparsers(dest="command"))
    tokens = tmp_path / "tokens"
    tokens.write_text("alpha\n", encoding="utf-8")
    args = parser.parse_args(["serve", "indexes/x", "--host", "0.0.0.0", "--token-file", str(tokens), "--port", "0",
                              "--queue-limit", "3", "--semantic-cache-threshold", "0.95", "--max-tokens", "64"])  # fmt: skip
    assert args.command == "serve" and args.generator == "llama-cpp" and args.metrics_port == 9464
    config = config_from_args(args, environ={"RETRIEVAL_TOKENS": "beta"})
    assert isinstance(config, ServiceConfig)
    assert config.tokens == {"alpha", "beta"} and config.auth_enabled
    assert (config.host, config.port, config.queue_limit) == ("0.0.0.0", 0, 3)
    assert config.semantic_cache_threshold == 0.95 and config.default_answer_tokens == 64
