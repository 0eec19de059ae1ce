"""Request validation, service settings and the exception → status code table (no server)."""

from __future__ import annotations

import math
from pathlib import Path

import grpc
import pytest

from retrieval.errors import (
    BundleError,
    ConfigError,
    CorpusError,
    NotFoundError,
    QueryError,
    RetrievalError,
    StoreUnavailableError,
    UpdateConflictError,
)
from retrieval.generation.errors import (
    ContextWindowError,
    GenerationError,
    GenerationHTTPError,
    GenerationTimeoutError,
    GeneratorUnavailableError,
    MalformedEventError,
    PromptError,
)
from retrieval.service.batcher import BatcherClosedError, BatcherError
from retrieval.service.config import ServiceConfig, is_loopback
from retrieval.service.errors import (
    DeadlineExpired,
    NoGenerator,
    NotServing,
    Overloaded,
    RequestTooLarge,
    ResponseTooLarge,
    Unauthenticated,
)
from retrieval.service.status import INTERNAL_MESSAGE, status_for
from retrieval.search.filters import parse_filter_arg
from retrieval.service.validation import RequestRules

C = grpc.StatusCode


@pytest.fixture(scope="module")
def rules(engine) -> RequestRules:
    return RequestRules.for_engine(engine, ServiceConfig(max_query_chars=100, max_k=50))


# -- validation --------------------------------------------------------------------------------


def test_defaults_fill_zero_and_empty_fields(rules: RequestRules) -> None:
    query = rules.search("json", 0, "", {})
    assert (query.k, query.mode, query.params, query.filters) == (10, "hybrid", (), ())
    assert rules.search("json", 7, "bm25", {}).k == 7


@pytest.mark.parametrize(
    ("query", "k", "mode", "params", "message"),
    [
        ("", 1, "bm25", {}, "query is empty"),
        ("   \n", 1, "bm25", {}, "query is empty"),
        ("x" * 101, 1, "bm25", {}, "101 characters long; the limit is 100"),
        ("json", 51, "bm25", {}, "k must be between 1 and 50"),
        ("json", -1, "bm25", {}, "k must be between 1 and 50"),
        ("json", 1, "BM25", {}, "unknown mode 'BM25'"),
        ("json", 1, "bm25", {"candidates": 10}, "'candidates' does not apply to mode 'bm25'"),
        ("json", 1, "dense", {"nprobe": 4}, "'nprobe' does not apply to mode 'dense'"),  # a flat index
        ("json", 1, "hybrid", {"exact_max": 4}, "'exact_max' does not apply to mode 'hybrid'"),
        ("json", 1, "hybrid", {"candidates": 0}, "'candidates' must be between 1 and 10000"),
        ("json", 1, "prefilter", {"candidates": 10_001}, "'candidates' must be between 1 and 10000"),
        ("json", 1, "hybrid", {"dense_weight": math.nan}, "'dense_weight' must be a finite number"),
    ],
)
def test_bad_fields_are_query_errors_naming_the_field(rules, query, k, mode, params, message) -> None:
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rules.search(query, k, mode, params)


def test_filters_pass_through_in_canonical_form(rules: RequestRules) -> None:
    query = rules.search("json", 3, "bm25", {}, [("lang", ("en", "de")), ("group", ("a",))])
    assert query.filters == (("group", ("a",)), ("lang", ("de", "en")))


@pytest.mark.parametrize(("filters", "message"), [
    ([("", ("en",))], "filter key must be a non-empty string"),
    ([("lang", ())], "filter 'lang' needs at least one value"),
    ([("lang", ("",))], "filter 'lang' has an empty value"),  # the CLI refuses --filter lang= too
    ([("lang", ("en", " "))], "filter 'lang' has an empty value"),
    ([(" ", ("en",))], "filter key must be a non-empty string"),
])  # fmt: skip
def test_malformed_filters_are_query_errors(rules: RequestRules, filters, message) -> None:
    with pytest.raises(QueryError, match=message):
        rules.search("json", 3, "bm25", {}, filters)


@pytest.mark.parametrize("arg", ["lang=", "lang= ", "lang=en,", "lang=,en", "lang=en, "])
def test_filter_values_the_cli_refuses_the_service_refuses(rules: RequestRules, arg: str) -> None:
    with pytest.raises(QueryError, match="every value must be non-empty"):
        parse_filter_arg(arg)  # retrieval search --filter ARG
    key, _, raw = arg.partition("=")
    with pytest.raises(QueryError, match="every value must be non-empty"):
        rules.search("json", 3, "bm25", {}, [(key, tuple(raw.split(",")))])


def test_filters_on_a_bundle_without_metadata_say_rebuild(engine) -> None:
    import dataclasses

    rules = dataclasses.replace(RequestRules.for_engine(engine, ServiceConfig()), filterable=False)
    with pytest.raises(QueryError, match="without document metadata.*rebuild"):
        rules.search("json", 3, "bm25", {}, [("lang", ("en",))])


def test_mode_missing_from_a_keyword_bundle(tmp_path: Path) -> None:
    from retrieval import Engine, IndexConfig

    from .conftest import DOCS

    keyword = Engine.build(DOCS[:3], tmp_path / "kw", IndexConfig.from_dict({"dense": False}))
    rules = RequestRules.for_engine(keyword, ServiceConfig())
    assert rules.default_mode == "bm25"
    with pytest.raises(QueryError, match="needs a dense index"):
        rules.search("json", 3, "hybrid", {})
    with pytest.raises(QueryError, match="not available in this bundle"):
        RequestRules.for_engine(keyword, ServiceConfig(default_mode="dense"))


def test_answer_fields(rules: RequestRules) -> None:
    query = rules.answer("why?", 0, "", 0, 0, True)
    assert (query.k, query.mode, query.budget_tokens, query.max_tokens, query.compress) == (8, "hybrid", 512, 256, True)
    with pytest.raises(QueryError, match="max_tokens must be at most 1024"):
        rules.answer("why?", 0, "", 0, 5000, True)
    with pytest.raises(QueryError, match="question is empty"):
        rules.answer(" ", 0, "", 0, 0, True)
    with pytest.raises(QueryError, match="batch may hold at most 256"):
        rules.batch_size(257)


# -- settings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.com", False),
])  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_without_tokens_is_refused() -> None:
    with pytest.raises(ConfigError, match="refusing to listen on 0.0.0.0 without authentication"):
        ServiceConfig(host="0.0.0.0")
    assert not ServiceConfig(host="0.0.0.0", insecure_no_auth=True).auth_enabled
    assert ServiceConfig(host="0.0.0.0", tokens=frozenset({"t"})).auth_enabled
    assert ServiceConfig(tokens=frozenset({"t"})).auth_enabled  # tokens turn auth on on loopback too


@pytest.mark.parametrize("bad", [
    {"port": 70000}, {"max_inflight": 0}, {"queue_limit": -1}, {"max_k": 0}, {"default_k": 2000},
    {"embed_max_wait_ms": math.nan}, {"semantic_cache_threshold": 1.5}, {"grace_s": -1.0},
    {"tls_cert": Path("cert.pem")}, {"tokens": frozenset({"a b"})},
    {"tokens": frozenset({"t"}), "insecure_no_auth": True}, {"max_receive_bytes": True},
])  # fmt: skip
def test_bad_settings_are_config_errors(bad: dict) -> None:
    with pytest.raises(ConfigError):
        ServiceConfig(**bad)


def test_tokens_do_not_show_in_the_repr() -> None:
    assert "s3cret" not in repr(ServiceConfig(tokens=frozenset({"s3cret"})))


# -- status codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(("exc", "code"), [
    (QueryError("bad k"), C.INVALID_ARGUMENT),
    (ConfigError("bad param"), C.INVALID_ARGUMENT),
    (CorpusError("bad file"), C.INVALID_ARGUMENT),
    (PromptError("not a string"), C.INVALID_ARGUMENT),
    (ContextWindowError("question too long"), C.INVALID_ARGUMENT),
    (NotFoundError("no chunk 7"), C.NOT_FOUND),
    (StoreUnavailableError("UNAVAILABLE: fetching chunks: connection lost"), C.UNAVAILABLE),
    (UpdateConflictError("another update"), C.FAILED_PRECONDITION),
    (Overloaded("full"), C.RESOURCE_EXHAUSTED),
    (RequestTooLarge("request over the limit"), C.RESOURCE_EXHAUSTED),
    (ResponseTooLarge("response over the limit"), C.RESOURCE_EXHAUSTED),
    (DeadlineExpired("late"), C.DEADLINE_EXCEEDED),
    (GenerationTimeoutError("read timeout"), C.DEADLINE_EXCEEDED),
    (TimeoutError(), C.DEADLINE_EXCEEDED),
    (NotServing("draining"), C.UNAVAILABLE),
    (GeneratorUnavailableError("refused"), C.UNAVAILABLE),
    (MalformedEventError("not JSON"), C.UNAVAILABLE),
    (GenerationError("closed"), C.UNAVAILABLE),
    (BatcherClosedError("closed"), C.UNAVAILABLE),
    (GenerationHTTPError("busy", 429, ""), C.RESOURCE_EXHAUSTED),
    (GenerationHTTPError("down", 503, ""), C.UNAVAILABLE),
    (GenerationHTTPError("bad model", 404, ""), C.FAILED_PRECONDITION),
    (Unauthenticated("no token"), C.UNAUTHENTICATED),
    (NoGenerator("none"), C.FAILED_PRECONDITION),
    (BundleError("corrupt"), C.FAILED_PRECONDITION),
    (RetrievalError("other"), C.FAILED_PRECONDITION),
])  # fmt: skip
def test_library_errors_map_to_their_status(exc: BaseException, code: grpc.StatusCode) -> None:
    got, message = status_for(exc)
    assert got is code
    assert message == str(exc) or (isinstance(exc, TimeoutError) and message)


def test_bugs_are_internal_without_their_details() -> None:
    assert status_for(KeyError("secret path /etc/x")) == (C.INTERNAL, INTERNAL_MESSAGE)
    assert status_for(BatcherError("shape [3]")) == (C.INTERNAL, INTERNAL_MESSAGE)
