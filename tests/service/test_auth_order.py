"""Authentication comes before the request is read, for every method; bytes that are no message
are INVALID_ARGUMENT everywhere (health included), never UNKNOWN or INTERNAL."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2

from retrieval.service.auth import DENIED
from retrieval.service.config import ServiceConfig
from retrieval.service.protos import retrieval_pb2 as pb

from .harness import ServerThread

TOKEN = "order-token"
TIMEOUT = 30.0
GARBAGE = b"\xff\xff\xff\x07garbage"  # a truncated varint: no message of any type parses it
VALID = {
    "Search": pb.SearchRequest(query="parse json", k=2, mode="bm25"),
    "SearchBatch": pb.SearchBatchRequest(requests=[pb.SearchRequest(query="parse json", k=2, mode="bm25")]),
    "Answer": pb.AnswerRequest(question="how do I parse json?", max_tokens=2),
}
METHODS = list(pb.DESCRIPTOR.services_by_name["Retrieval"].methods)


def test_every_method_has_a_valid_body_here() -> None:
    assert sorted(m.name for m in METHODS) == sorted(VALID)  # a new method needs a case above


@pytest.fixture(scope="module")
def authed(engine, generator):
    config = ServiceConfig(port=0, metrics_port=0, tokens=frozenset({TOKEN}), default_answer_tokens=2)
    with ServerThread(engine, config, generator=generator) as server:
        yield server


def _raw(channel: grpc.Channel, path: str, server_streaming: bool):
    """A callable sending bytes as they are and returning the status code and details."""
    call = (channel.unary_stream if server_streaming else channel.unary_unary)(path)  # no serializers: raw bytes

    def send(body: bytes, metadata=()) -> tuple[grpc.StatusCode, str]:
        try:
            response = call(body, timeout=TIMEOUT, metadata=metadata)
            if server_streaming:
                list(response)
        except grpc.RpcError as exc:
            return exc.code(), exc.details()
        return grpc.StatusCode.OK, ""

    return send


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
@pytest.mark.parametrize("metadata", [(), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)],
                         ids=["none", "wrong", "no-scheme"])  # fmt: skip
def test_without_a_known_token_every_body_is_unauthenticated(authed, method, metadata) -> None:
    with authed.channel() as channel:
        send = _raw(channel, f"/{method.full_name.rpartition('.')[0]}/{method.name}", method.server_streaming)
        for body in (GARBAGE, VALID[method.name].SerializeToString()):
            code, details = send(body, metadata)
            # Nothing about the request: not whether it parsed, nor which message type it should be.
            assert (code, details) == (grpc.StatusCode.UNAUTHENTICATED, DENIED), body


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_with_the_token_garbage_is_invalid_argument(authed, method) -> None:
    with authed.channel() as channel:
        send = _raw(channel, f"/{method.full_name.rpartition('.')[0]}/{method.name}", method.server_streaming)
        code, details = send(GARBAGE, [("authorization", f"Bearer {TOKEN}")])
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid message" in details
        code, _ = send(VALID[method.name].SerializeToString(), [("authorization", f"Bearer {TOKEN}")])
        assert code is grpc.StatusCode.OK


@pytest.mark.parametrize(("method", "streaming"), [("Check", False), ("Watch", True)])
def test_health_garbage_is_invalid_argument_without_a_token(authed, method, streaming) -> None:
    with authed.channel() as channel:
        send = _raw(channel, f"/grpc.health.v1.Health/{method}", streaming)
        code, details = send(GARBAGE)
        assert code is grpc.StatusCode.INVALID_ARGUMENT, details
        assert "not a valid message" in details
        check = _raw(channel, "/grpc.health.v1.Health/Check", False)
        assert check(health_pb2.HealthCheckRequest().SerializeToString())[0] is grpc.StatusCode.OK


def test_health_garbage_is_invalid_argument_without_auth(channel) -> None:
    code, details = _raw(channel, "/grpc.health.v1.Health/Check", False)(GARBAGE)
    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
