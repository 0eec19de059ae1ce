"""Random request fields never make the server fail with INTERNAL or UNKNOWN."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval.service.config import ServiceConfig
from retrieval.service.protos import retrieval_pb2 as pb

from .harness import ServerThread

# Codes a client may see for a request it built freely (the server is idle and healthy).
EXPECTED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
UINT32 = st.integers(0, 2**32 - 1)
DOUBLES = st.floats(allow_nan=True, allow_infinity=True)

texts = st.one_of(
    st.text(max_size=40),  # unicode of every category (no surrogates: proto strings are UTF-8)
    st.sampled_from(["json", "parse json", " ", "\x00", "🙂 émoji ünïcode", "json " * 50]),
    st.text(min_size=4000, max_size=4200),  # around the 4096-character limit
    st.builds(lambda n: "x" * n, st.integers(100_000, 300_000)),  # huge
)
modes = st.one_of(st.sampled_from(["", "bm25", "dense", "hybrid", "prefilter", "BM25", "semantic"]), st.text(max_size=8))
small_or_huge = st.one_of(st.integers(0, 50), st.integers(900, 1100), UINT32)


@st.composite
def search_params(draw) -> pb.SearchParams:
    params = pb.SearchParams()
    fields = {
        "candidates": small_or_huge, "rrf_k": UINT32, "ef_search": small_or_huge, "nprobe": small_or_huge,
        "exact_max": UINT32, "fusion_method": st.sampled_from(["convex", "rrf", "", "max"]),
        "normalization": st.sampled_from(["minmax", "zscore", "none"]), "dense_weight": DOUBLES,
        "keyword_weight": DOUBLES, "k_factor": DOUBLES,
    }  # fmt: skip
    for name in draw(st.sets(st.sampled_from(sorted(fields)), max_size=3)):
        setattr(params, name, draw(fields[name]))
    return params


filters = st.lists(st.builds(pb.Filter, key=st.text(max_size=5), values=st.lists(st.text(max_size=5), max_size=2)), max_size=2)
search_requests = st.builds(pb.SearchRequest, query=texts, k=small_or_huge, mode=modes, params=search_params(),
                            filters=st.one_of(st.just([]), filters))  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_stub(engine, generator):
    # Short answers keep the generated examples quick; message limits large enough for 300k-char queries.
    config = ServiceConfig(port=0, metrics_port=0, default_answer_tokens=2, max_answer_tokens=4, result_cache_size=0)
    with ServerThread(engine, config, generator=generator) as server, server.channel() as channel:
        yield server.stub(channel)


def _code(call, request) -> grpc.StatusCode:
    try:
        response = call(request, timeout=60)
        if hasattr(response, "__iter__") and not hasattr(response, "ListFields"):
            list(response)
    except grpc.RpcError as exc:
        assert exc.code() in EXPECTED, (exc.code(), exc.details(), request)
        assert exc.details()
        return exc.code()
    return grpc.StatusCode.OK


@settings(derandomize=True, database=None, max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=search_requests)
def test_search_fuzz(fuzz_stub, request: pb.SearchRequest) -> None:
    _code(fuzz_stub.Search, request)


@settings(derandomize=True, database=None, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests=st.lists(search_requests, max_size=4))
def test_search_batch_fuzz(fuzz_stub, requests: list[pb.SearchRequest]) -> None:
    _code(fuzz_stub.SearchBatch, pb.SearchBatchRequest(requests=requests))


@settings(derandomize=True, database=None, max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=st.builds(
        pb.AnswerRequest, question=texts, k=small_or_huge, mode=modes,
        budget_tokens=st.one_of(st.integers(0, 80), UINT32), max_tokens=st.one_of(st.integers(0, 6), UINT32),
        no_compress=st.booleans(),
    )
)  # fmt: skip
def test_answer_fuzz(fuzz_stub, request: pb.AnswerRequest) -> None:
    _code(fuzz_stub.Answer, request)
