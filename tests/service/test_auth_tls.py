"""Bearer-token auth (health exempt) and TLS, end to end."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from retrieval.service.config import ServiceConfig
from retrieval.service.protos import retrieval_pb2 as pb
from retrieval.service.protos import retrieval_pb2_grpc

from .harness import ServerThread

TOKEN = "s3cret-token"
TIMEOUT = 30.0
QUERY = pb.SearchRequest(query="parse json", k=2, mode="bm25")


@pytest.fixture(scope="module")
def authed(engine):
    with ServerThread(engine, ServiceConfig(port=0, metrics_port=0, tokens=frozenset({TOKEN, "other"}))) as server:
        yield server


def _code(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        fn()
    return info.value.code()


def test_calls_without_a_known_token_are_unauthenticated(authed, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    with authed.channel() as channel:
        stub = authed.stub(channel)
        assert _code(lambda: stub.Search(QUERY, timeout=TIMEOUT)) is grpc.StatusCode.UNAUTHENTICATED
        wrong = [("authorization", "Bearer s3cret-tokem")]
        assert _code(lambda: stub.Search(QUERY, timeout=TIMEOUT, metadata=wrong)) is grpc.StatusCode.UNAUTHENTICATED
        batch = pb.SearchBatchRequest(requests=[QUERY])
        assert _code(lambda: stub.SearchBatch(batch, timeout=TIMEOUT)) is grpc.StatusCode.UNAUTHENTICATED
        answer = pb.AnswerRequest(question="why?")
        assert _code(lambda: list(stub.Answer(answer, timeout=TIMEOUT))) is grpc.StatusCode.UNAUTHENTICATED
        # Reflection describes the API: it needs a token too.
        assert _code(lambda: ProtoReflectionDescriptorDatabase(channel).get_services()) is grpc.StatusCode.UNAUTHENTICATED
    codes = [json.loads(m)["code"] for r in caplog.records if (m := r.getMessage()).startswith('{"method"')]
    assert codes == ["UNAUTHENTICATED"] * 4


def test_a_known_token_is_let_through(authed) -> None:
    with authed.channel() as channel:
        stub = authed.stub(channel)
        for token in (TOKEN, "other"):
            response = stub.Search(QUERY, timeout=TIMEOUT, metadata=[("authorization", f"Bearer {token}")])
            assert response.hits[0].chunk_id == "json#0"


def test_health_checks_need_no_token(authed) -> None:
    with authed.channel() as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_loopback_without_tokens_needs_none(stub) -> None:
    assert stub.Search(QUERY, timeout=TIMEOUT).hits


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1, made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need the openssl command (apt-get install openssl)")
    root = tmp_path_factory.mktemp("tls")
    cert, key = root / "cert.pem", root / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_tls_with_a_token(engine, certificate) -> None:
    cert, key = certificate
    config = ServiceConfig(port=0, metrics_port=0, tls_cert=cert, tls_key=key, tokens=frozenset({TOKEN}))
    with ServerThread(engine, config) as server:
        tls = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        credentials = grpc.composite_channel_credentials(tls, grpc.access_token_call_credentials(TOKEN))
        with grpc.secure_channel(server.target, credentials) as channel:
            response = retrieval_pb2_grpc.RetrievalStub(channel).Search(QUERY, timeout=TIMEOUT)
            assert response.hits[0].chunk_id == "json#0"
        with grpc.secure_channel(server.target, tls) as channel:  # TLS alone is not a token
            search = retrieval_pb2_grpc.RetrievalStub(channel).Search
            assert _code(lambda: search(QUERY, timeout=TIMEOUT)) is grpc.StatusCode.UNAUTHENTICATED
        with grpc.insecure_channel(server.target) as channel:  # plaintext to a TLS port
            search = retrieval_pb2_grpc.RetrievalStub(channel).Search
            metadata = [("authorization", f"Bearer {TOKEN}")]
            assert _code(lambda: search(QUERY, timeout=5, metadata=metadata)) is grpc.StatusCode.UNAVAILABLE


def test_unreadable_tls_files_fail_the_start(engine, tmp_path: Path) -> None:
    from retrieval.errors import ConfigError

    config = ServiceConfig(port=0, metrics_port=0, tls_cert=tmp_path / "no.pem", tls_key=tmp_path / "no.key")
    server = ServerThread(engine, config)
    try:
        with pytest.raises(ConfigError, match=r"cannot read the TLS certificate .*no\.pem: No such file"):
            server.start()
    finally:
        server.close_loop()


def test_messages_over_the_size_limits_are_refused(engine, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    config = ServiceConfig(port=0, metrics_port=0, max_receive_bytes=2048, max_send_bytes=1024)
    with ServerThread(engine, config) as server, server.channel() as channel:
        stub = server.stub(channel)
        big = pb.SearchRequest(query="json " * 1000, mode="bm25")  # ~5 KB in
        assert _code(lambda: stub.Search(big, timeout=TIMEOUT)) is grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as info:  # ~1.2 KB out
            stub.Search(pb.SearchRequest(query="json", k=10, mode="dense"), timeout=TIMEOUT)
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "over this server's limit of 1024: ask for a smaller k" in info.value.details()
        assert stub.Search(pb.SearchRequest(query="json", k=1, mode="bm25"), timeout=TIMEOUT).hits
    codes = [json.loads(m)["code"] for r in caplog.records if (m := r.getMessage()).startswith('{"method"')]
    # The first is over gRPC's own limit (twice ours): cut off before it was read, so it has no
    # log line (it is counted as unread; one between the limits is logged: test_limits.py).
    assert codes == ["RESOURCE_EXHAUSTED", "OK"]
