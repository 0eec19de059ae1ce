"""HTTP/JSON beside gRPC: every endpoint and error code, SSE, disconnects, auth, overload.

A real HTTP client (httpx) against a server on a free port, serving the same servicer as gRPC.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Iterator

import httpx
import pytest
from google.protobuf import json_format

from retrieval.errors import ConfigError
from retrieval.service import openapi
from retrieval.service.config import ServiceConfig
from retrieval.service.lifecycle import Phase
from retrieval.service.protos import retrieval_pb2 as pb

from .fakes import ScriptedEngine
from .harness import ServerThread, wait_for

DELAY_S = 0.4
LONG = {"question": "Write a long, detailed essay about every module mentioned.", "k": 3, "budget_tokens": 60,
        "max_tokens": 1000}  # fmt: skip


@pytest.fixture(scope="module")
def http_server(engine, generator) -> Iterator[ServerThread]:
    with ServerThread(engine, generator=generator, http_port=0) as running:
        yield running


@pytest.fixture()
def http(http_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{http_server.server.http_port}", timeout=60) as client:
        yield client


def _log_lines(caplog, method: str) -> list[dict]:
    prefix = f'{{"method": "{method}"'
    return [json.loads(m) for r in caplog.records if (m := r.getMessage()).startswith(prefix)]


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


# -- the endpoints ------------------------------------------------------------------------------


def test_search_over_http_equals_search_over_grpc(http_server, http) -> None:
    request = {"query": "how do I parse json", "k": 3, "mode": "hybrid", "params": {"dense_weight": 0.7},
               "filters": [{"key": "group", "values": ["a"]}]}  # fmt: skip
    response = http.post("/v1/search", json=request)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"hits", "timings_ms", "cached"}  # the .proto's field names, every field present
    assert set(body["hits"][0]) == {"chunk_id", "document_id", "score", "text", "title"}
    with http_server.channel() as channel:
        expected = http_server.stub(channel).Search(json_format.ParseDict(request, pb.SearchRequest()), timeout=10)
    assert [(h["chunk_id"], h["document_id"], h["text"]) for h in body["hits"]] == [
        (h.chunk_id, h.document_id, h.text) for h in expected.hits
    ]
    assert [h["score"] for h in body["hits"]] == pytest.approx([h.score for h in expected.hits], rel=1e-6)
    assert body["hits"][0]["document_id"] == "json" and len(body["hits"]) == 3


def test_search_batch_answers_each_request_in_order(http) -> None:
    queries = ["read a file line by line", "square root of a number", "regular expression search"]
    response = http.post("/v1/search_batch", json={"requests": [{"query": q, "k": 1, "mode": "bm25"} for q in queries]})
    assert response.status_code == 200
    tops = [r["hits"][0]["document_id"] for r in response.json()["responses"]]
    singles = [http.post("/v1/search", json={"query": q, "k": 1, "mode": "bm25"}).json()["hits"][0]["document_id"]
               for q in queries]  # fmt: skip
    assert tops == singles == ["files", "math", "re"]


def test_an_answer_streams_as_server_sent_events(http) -> None:
    request = {"question": "What does the json module do?", "k": 2, "budget_tokens": 60, "max_tokens": 8}
    with http.stream("POST", "/v1/answer", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(_sse_events(response.iter_lines()))
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"token"} and len(names) >= 2
    text = "".join(data["token"] for name, data in events if name == "token")
    done = events[-1][1]["done"]
    assert text.strip() and 1 <= done["completion_tokens"] <= 8
    assert done["sources"] and set(done["sources"][0]) == {"number", "chunk_id", "document_id", "title"}
    assert done["finish_reason"] in ("stop", "length")


def test_a_client_that_disconnects_stops_the_answer(http_server, http, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    with http.stream("POST", "/v1/answer", json=LONG) as response:
        lines = response.iter_lines()
        first = next(_sse_events(lines))
        assert first[0] == "token"
    # Leaving the block closed the connection mid-stream.
    wait_for(lambda: _log_lines(caplog, "Answer"))
    (line,) = _log_lines(caplog, "Answer")
    assert line["code"] == "CANCELLED" and line["transport"] == "http"
    assert line["finish_reason"] == "cancelled" and line["completion_tokens"] < 100
    wait_for(lambda: http_server.server.answers.streams == 0)


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            assert name is not None
            yield name, json.loads(line[len("data: "):])
            name = None


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": "json", "mode": "nope"}, "unknown mode"),
        ({"query": "json", "k": 100000}, "k"),
        ({"query": "json", "colour": "red"}, "colour"),  # an unknown field is refused, not ignored
        ({"query": 3}, "SearchRequest"),
        (b"{not json", "not JSON"),
        (b"[]", "JSON object"),
        (b"", "empty"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_bad_requests_are_400_with_the_reason(http, caplog, body, needle) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    response = http.post("/v1/search", **({"content": body} if isinstance(body, bytes) else {"json": body}))
    status, code, message = _error(response)
    assert (status, code) == (400, "INVALID_ARGUMENT") and needle in message
    (line,) = _log_lines(caplog, "Search")
    assert line["code"] == "INVALID_ARGUMENT" and line["transport"] == "http"


def test_unknown_paths_and_methods(http) -> None:
    assert _error(http.get("/v1/nothing"))[:2] == (404, "NOT_FOUND")
    assert _error(http.get("/v1/search"))[:2] == (405, "UNIMPLEMENTED")


def test_a_body_over_the_receive_limit_is_413(engine) -> None:
    with ServerThread(engine, http_port=0, max_receive_bytes=4096) as server:
        response = httpx.post(f"http://127.0.0.1:{server.server.http_port}/v1/search",
                              json={"query": "json " * 2000}, timeout=10)  # fmt: skip
        assert _error(response)[:2] == (413, "RESOURCE_EXHAUSTED")


def test_answer_errors_before_the_stream_get_a_status(http) -> None:
    status, code, message = _error(http.post("/v1/answer", json={"question": ""}))
    assert (status, code) == (400, "INVALID_ARGUMENT")


def test_an_answer_without_a_generator_is_400_failed_precondition(engine) -> None:
    with ServerThread(engine, http_port=0) as server:
        response = httpx.post(f"http://127.0.0.1:{server.server.http_port}/v1/answer", json={"question": "json?"})
        status, code, message = _error(response)
        assert (status, code) == (400, "FAILED_PRECONDITION") and "generator" in message


def test_bearer_tokens_guard_every_call_but_health_and_the_document(engine, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    with ServerThread(engine, http_port=0, tokens=frozenset({"s3cret"})) as server:
        base = f"http://127.0.0.1:{server.server.http_port}"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = httpx.post(base + "/v1/search", json={"query": "json"}, headers=headers)
            assert _error(response)[:2] == (401, "UNAUTHENTICATED")
            assert response.headers["www-authenticate"] == "Bearer"
        # A refused call's body is never parsed: garbage still gets 401, not 400.
        assert httpx.post(base + "/v1/search", content=b"{garbage").status_code == 401
        ok = httpx.post(base + "/v1/search", json={"query": "json"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["hits"]
        assert httpx.get(base + "/v1/health").status_code == 200
        assert httpx.get(base + "/v1/openapi.json").status_code == 200
    codes = [line["code"] for line in _log_lines(caplog, "Search")]
    assert codes == ["UNAUTHENTICATED"] * 4 + ["OK"]


def test_overload_is_429_at_once(engine) -> None:
    slow = ScriptedEngine(engine, delay_s=DELAY_S)
    with ServerThread(slow, http_port=0, workers=1, max_inflight=1, queue_limit=1, result_cache_size=0) as server:
        base = f"http://127.0.0.1:{server.server.http_port}"
        results: list[httpx.Response] = []
        threads = [threading.Thread(target=lambda q=q: results.append(httpx.post(base + "/v1/search", json={"query": q, "mode": "bm25"}, timeout=10)))
                   for q in ("json one", "json two")]  # fmt: skip
        threads[0].start()
        wait_for(lambda: server.server.admission.inflight == 1)
        threads[1].start()
        wait_for(lambda: server.server.admission.queued == 1)
        started = time.perf_counter()
        refused = httpx.post(base + "/v1/search", json={"query": "json three", "mode": "bm25"}, timeout=10)
        assert time.perf_counter() - started < DELAY_S / 2
        assert _error(refused)[:2] == (429, "RESOURCE_EXHAUSTED") and refused.headers["retry-after"] == "1"
        for t in threads:
            t.join()
        assert [r.status_code for r in results] == [200, 200]
        body = server.server.metrics.render().decode()
        assert 'retrieval_requests_total{code="RESOURCE_EXHAUSTED",method="Search"} 1.0' in body
        assert 'retrieval_requests_total{code="OK",method="Search"}' in body


def test_a_deadline_that_passes_is_504(engine) -> None:
    slow = ScriptedEngine(engine, delay_s=DELAY_S)
    with ServerThread(slow, http_port=0, workers=1, result_cache_size=0) as server:
        base = f"http://127.0.0.1:{server.server.http_port}"
        response = httpx.post(base + "/v1/search", json={"query": "json", "mode": "bm25"}, headers={"X-Timeout-Ms": "50"})
        assert _error(response)[:2] == (504, "DEADLINE_EXCEEDED")
        bad = httpx.post(base + "/v1/search", json={"query": "json"}, headers={"X-Timeout-Ms": "soon"})
        assert _error(bad)[:2] == (400, "INVALID_ARGUMENT") and "X-Timeout-Ms" in _error(bad)[2]


def test_a_server_not_serving_is_503(http_server, http) -> None:
    lifecycle = http_server.server.lifecycle
    lifecycle.phase = Phase.WARMING
    try:
        assert _error(http.post("/v1/search", json={"query": "json"}))[:2] == (503, "UNAVAILABLE")
        assert http.get("/v1/health").status_code == 503
        lifecycle.phase = Phase.DRAINING
        response = http.post("/v1/search", json={"query": "json"})
        assert _error(response)[:2] == (503, "UNAVAILABLE") and "shutting down" in _error(response)[2]
    finally:
        lifecycle.phase = Phase.SERVING
    assert http.post("/v1/search", json={"query": "json"}).status_code == 200


# -- the document and the settings ----------------------------------------------------------------


def test_the_committed_openapi_document_is_the_generated_one(http) -> None:
    assert openapi.committed().decode("utf-8") == openapi.render(), "run: python -m retrieval.service.openapi"
    served = http.get("/v1/openapi.json").json()
    assert served == openapi.build()
    assert {"/v1/search", "/v1/search_batch", "/v1/answer", "/v1/health", "/v1/openapi.json"} == set(served["paths"])
    # Every field of every message is in its schema, named as in the .proto.
    for name, message in pb.DESCRIPTOR.message_types_by_name.items():
        assert set(served["components"]["schemas"][name]["properties"]) == {f.name for f in message.fields}


def test_the_http_port_is_checked(engine) -> None:
    with pytest.raises(ConfigError, match="http_port"):
        ServiceConfig(port=50051, http_port=50051)
    with pytest.raises(ConfigError, match="http_port"):
        ServiceConfig(http_port=70000)
    with ServerThread(engine, http_port=0) as first:
        taken = first.server.http_port
        second = ServerThread(engine, http_port=taken)
        try:
            with pytest.raises(ConfigError, match=str(taken)):
                second.start()
        finally:
            second.close_loop()


# -- the load generator over HTTP ---------------------------------------------------------------


def test_the_load_generator_drives_http_like_grpc(engine) -> None:
    import asyncio

    from retrieval.bench.loadgen import LoadSpec, run_load, summarize

    with ServerThread(engine, http_port=0, tokens=frozenset({"s3cret"})) as server:
        target = f"127.0.0.1:{server.server.http_port}"
        queries = ("read a file", "parse json", "square root")
        spec = LoadSpec(target, queries=queries, concurrency=4, duration_s=0.5, mode="bm25", k=3, token="s3cret",
                        transport="http")  # fmt: skip
        report = summarize(asyncio.run(run_load(spec)), spec)
        assert report["errors"] == 0 and report["requests"] > 0 and report["transport"] == "http"
        wrong = LoadSpec(target, queries=queries, concurrency=2, duration_s=0.2, token="nope", transport="http")
        refused = summarize(asyncio.run(run_load(wrong)), wrong)
        assert refused["ok"] == 0 and set(refused["errors_by_code"]) == {"UNAUTHENTICATED"}


def test_serve_http_port_option_becomes_the_config() -> None:
    import argparse

    from retrieval.service.main import add_serve_parser, config_from_args

    parser = argparse.ArgumentParser(prog="retrieval")
    add_serve_parser(parser.add_subparsers(dest="command"))
    assert config_from_args(parser.parse_args(["serve", "x", "--http-port", "8080"]), environ={}).http_port == 8080
    assert config_from_args(parser.parse_args(["serve", "x"]), environ={}).http_port is None
