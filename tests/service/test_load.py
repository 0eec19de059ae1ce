"""`retrieval bench load` against a tiny in-test grpc.aio server (a fake Retrieval service):
closed-loop counts, open-loop rate, coordinated-omission-free latency, errors by code, auth,
TLS, the JSON report."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from retrieval.cli.bench.load import add_parser as add_load_parser
from retrieval.cli.bench.load import run as cmd_bench_load
from retrieval.bench.loadgen import LoadSpec, LoadTargetError, run_load, summarize
from retrieval.errors import ConfigError
from retrieval.service.protos import retrieval_pb2, retrieval_pb2_grpc

CONTRACT_KEYS = {"qps": float, "p50_ms": float, "p95_ms": float, "p99_ms": float, "errors": int, "requests": int}


@dataclass
class Behaviour:
    delay_s: float = 0.0
    token: str | None = None  # required bearer token, if any
    seen: list = field(default_factory=list)  # (query, k, mode) per request
    inflight: int = 0
    max_inflight: int = 0


class FakeRetrieval(retrieval_pb2_grpc.RetrievalServicer):
    """Returns two fixed hits; sleeps ``delay_s``; queries containing "busy" are refused with
    RESOURCE_EXHAUSTED; a wrong or missing token is UNAUTHENTICATED when one is required."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.b = behaviour

    async def Search(self, request, context):
        b = self.b
        b.seen.append((request.query, request.k, request.mode))
        if b.token is not None and dict(context.invocation_metadata()).get("authorization") != f"Bearer {b.token}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad token")
        if "busy" in request.query:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "server is busy")
        b.inflight += 1
        b.max_inflight = max(b.max_inflight, b.inflight)
        try:
            if b.delay_s:
                await asyncio.sleep(b.delay_s)
        finally:
            b.inflight -= 1
        hits = [retrieval_pb2.Hit(chunk_id=f"c{i}", document_id=f"d{i}", score=1.0 / (i + 1), text="text") for i in range(2)]
        return retrieval_pb2.SearchResponse(hits=hits)


class FakeServer:
    """The fake service on its own event loop in a thread, so sync code (the CLI) can drive it."""

    def __init__(self, behaviour: Behaviour, tls: tuple[bytes, bytes] | None = None) -> None:
        self.behaviour = behaviour
        self._tls = tls
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> int:
        self._server = grpc.aio.server()
        retrieval_pb2_grpc.add_RetrievalServicer_to_server(FakeRetrieval(self.behaviour), self._server)
        if self._tls is not None:
            key, cert = self._tls
            port = self._server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
        else:
            port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return port

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(None), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture()
def server():
    servers: list[FakeServer] = []

    def start(behaviour: Behaviour | None = None, tls=None) -> FakeServer:
        servers.append(FakeServer(behaviour or Behaviour(), tls))
        return servers[-1]

    yield start
    for s in servers:
        s.stop()


def load(spec: LoadSpec) -> dict:
    return summarize(asyncio.run(run_load(spec)), spec)


def cli(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="retrieval bench")
    add_load_parser(parser.add_subparsers(dest="bench"))
    code = cmd_bench_load(parser.parse_args(argv))
    return code, capsys.readouterr().out


def test_closed_loop_keeps_concurrency_requests_in_flight_and_counts_them(server):
    s = server(Behaviour(delay_s=0.01))
    report = load(LoadSpec(s.target, queries=("a", "b", "c"), concurrency=4, duration_s=0.6, k=7, mode="hybrid"))
    assert report["requests"] == len(s.behaviour.seen) == report["ok"]  # every request counted, once
    assert report["errors"] == 0 and report["errors_by_code"] == {}
    assert s.behaviour.max_inflight == 4  # exactly the concurrency: never more, and it was reached
    # 4 clients x 0.6 s / ~10 ms each = ~240 at most; scheduling overhead only lowers it.
    assert 80 <= report["requests"] <= 250, report["requests"]
    assert report["qps"] == pytest.approx(report["ok"] / report["seconds"])
    assert 10.0 <= report["p50_ms"] <= report["p95_ms"] <= report["p99_ms"] < 200
    assert {q for q, _, _ in s.behaviour.seen} == {"a", "b", "c"}
    assert {(k, m) for _, k, m in s.behaviour.seen} == {(7, "hybrid")}
    assert report["loop"] == "closed" and report["rate"] is None


@pytest.mark.parametrize("arrivals, tolerance", [("fixed", 0.1), ("poisson", 0.3)])
def test_open_loop_honours_the_rate(server, arrivals: str, tolerance: float):
    s = server(Behaviour(delay_s=0.002))
    report = load(LoadSpec(s.target, concurrency=16, duration_s=1.0, rate=150, arrivals=arrivals, seed=3))
    # 150 arrivals expected in 1 s; Poisson's count has sd sqrt(150) ~ 12 (seeded, so stable).
    assert abs(report["requests"] - 150) <= 150 * tolerance, report["requests"]
    assert report["errors"] == 0 and report["loop"] == "open"
    assert report["qps"] == pytest.approx(report["requests"] / report["seconds"])
    assert 0.95 < report["seconds"] < 1.5


def test_open_loop_latency_counts_queueing_from_the_intended_send_time(server):
    # One request in flight, 40 ms each, 50 requests/s due: the server keeps up with half.
    # Measured from the actual send, every request would take ~40 ms; from the intended send
    # time the growing backlog shows, and arrivals left unsent at the end are errors.
    s = server(Behaviour(delay_s=0.04))
    report = load(LoadSpec(s.target, concurrency=1, duration_s=1.0, rate=50, arrivals="fixed"))
    assert s.behaviour.max_inflight == 1
    assert report["p99_ms"] > 300, report  # the last sends were ~0.5 s late
    assert report["p50_ms"] > 100, report
    assert report["errors_by_code"].get("NOT_SENT", 0) >= 15, report
    assert report["requests"] == 50 and report["late_sends"] >= 15


def test_errors_are_counted_by_status_code(server, tmp_path: Path):
    s = server(Behaviour(delay_s=0.001))
    queries = ("fine", "busy please", "fine again", "busy")
    report = load(LoadSpec(s.target, queries=queries, concurrency=2, duration_s=0.4))
    assert report["errors_by_code"] == {"RESOURCE_EXHAUSTED": report["errors"]}
    assert report["errors"] + report["ok"] == report["requests"] == len(s.behaviour.seen)
    assert abs(report["errors"] - report["ok"]) <= 2  # queries alternate, half are refused
    # qps counts successes only; the percentiles come from successful requests only.
    assert report["qps"] == pytest.approx(report["ok"] / report["seconds"])


def test_deadlines_are_sent_and_reported_as_deadline_exceeded(server):
    s = server(Behaviour(delay_s=0.5))
    report = load(LoadSpec(s.target, concurrency=2, duration_s=0.2, deadline_s=0.03))
    assert report["ok"] == 0 and report["errors"] == report["requests"] >= 2
    assert set(report["errors_by_code"]) == {"DEADLINE_EXCEEDED"}
    assert report["p50_ms"] == 0.0 and report["qps"] == 0.0


def test_cli_json_report_follows_the_contract(server, tmp_path: Path, capsys):
    s = server(Behaviour(token="s3cret"))
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"_id": "1", "text": "first query"}\n\n{"text": "second query"}\n', encoding="utf-8")
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n", encoding="utf-8")
    code, out = cli(["load", "--target", s.target, "--concurrency", "3", "--duration", "0.3", "--warmup", "0.1",
                     "--queries", str(queries), "--mode", "bm25", "-k", "4", "--token-file", str(token_file), "--json"], capsys)
    assert code == 0
    report = json.loads(out)  # exactly one JSON object on stdout
    for key, kind in CONTRACT_KEYS.items():
        assert isinstance(report[key], kind), key
    assert report["errors"] == 0 and report["requests"] > 0 and report["qps"] > 0
    # Warm-up requests reached the server but are not in the report.
    assert len(s.behaviour.seen) > report["requests"]
    assert Counter(q for q, _, _ in s.behaviour.seen).keys() == {"first query", "second query"}
    assert {(k, m) for _, k, m in s.behaviour.seen} == {(4, "bm25")}
    assert report["environment"]["grpcio"] == grpc.__version__


def test_cli_table_and_a_wrong_token(server, capsys):
    s = server(Behaviour(token="right"))
    code, out = cli(["load", "--target", s.target, "--concurrency", "2", "--duration", "0.2", "--warmup", "0",
                     "--token", "wrong"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("closed loop, 2 concurrent") and "requests" in lines[1]
    assert lines[-1].startswith("errors: UNAUTHENTICATED ")
    # The default queries and mode when none are given: the server picks the mode.
    assert {m for _, _, m in s.behaviour.seen} == {""} and len({q for q, _, _ in s.behaviour.seen}) > 1


def test_tls_with_a_ca_file(server, tmp_path: Path, capsys):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    s = server(tls=(key.read_bytes(), cert.read_bytes()))
    code, out = cli(["load", "--target", s.target, "--concurrency", "2", "--duration", "0.2", "--warmup", "0",
                     "--tls-ca", str(cert), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] > 0 and report["errors"] == 0
    # Without the CA the plaintext client cannot talk to the TLS server at all.
    with pytest.raises(LoadTargetError, match="cannot connect"):
        load(LoadSpec(s.target, duration_s=0.1, connect_timeout_s=0.5))


def test_unreachable_target_and_bad_input_are_one_line_errors(tmp_path: Path, capsys):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LoadTargetError, match=f"127.0.0.1:{port}"):
        load(LoadSpec(f"127.0.0.1:{port}", duration_s=0.1, connect_timeout_s=0.3))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no queries"):
        cli(["load", "--target", "127.0.0.1:1", "--queries", str(empty)], capsys)
    with pytest.raises(ConfigError, match="--token-file"):
        cli(["load", "--target", "127.0.0.1:1", "--token-file", str(tmp_path / "missing")], capsys)
    parser = argparse.ArgumentParser(prog="retrieval bench", exit_on_error=False)
    add_load_parser(parser.add_subparsers(dest="bench"))
    for bad in (["--target", "localhost"], ["--target", "h:70000"], ["--target", "h:1", "--rate", "0"],
                ["--target", "h:1", "--token", "a", "--token-file", "b"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["load", *bad])
    capsys.readouterr()
