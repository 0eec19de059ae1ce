"""RemoteEmbedder against a real OpenAI-compatible server in another process.

The server (``retrieval.bench.embed_server``) embeds with the packaged MiniLM, so the remote
vectors must equal the local ``OnnxEmbedder``'s; its ``/control`` endpoint injects faults and
``/stats`` reports what it received (batch sizes, concurrency, the Authorization header).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from retrieval.bench.embed_server import start_in_thread
from retrieval.embedding import OnnxEmbedder
from retrieval.embedding.remote import (
    EmbeddingEndpointError,
    RemoteEmbedder,
    embeddings_url,
    parse_remote_spec,
    plan_requests,
)
from retrieval.errors import ConfigError

FAST = {"backoff_s": 0.01}  # retries without waiting
TOPICS = ["protein folding", "vitamin D", "T cells", "graph search", "sleep", "coffee", "malaria", "statins"]
TEXTS = [f"Sentence {i} is about {TOPICS[i % len(TOPICS)]} and {'more words ' * (i % 7)}its effects." for i in range(100)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The URL of the embeddings server, started as a subprocess on a free port."""
    log = tmp_path_factory.mktemp("embed_server") / "stderr.txt"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "retrieval.bench.embed_server", "--port", "0", "--threads", "1"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = proc.stdout.readline().strip()  # printed once the model is loaded
        if not line.startswith("listening on "):
            proc.wait(timeout=10)
            last = (log.read_text().strip().splitlines() or ["(no output)"])[-1]
            pytest.fail(f"embed_server did not start (exit code {proc.returncode}): {last}")
        yield line.removeprefix("listening on ")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture(scope="module")
def local():
    return OnnxEmbedder("fp32", intra_op_threads=1)


@pytest.fixture(autouse=True)
def fresh(request):
    if "server" in request.fixturenames:
        _post(request.getfixturevalue("server") + "/reset", {})


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as response:
        return json.loads(response.read())


def _stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/stats", timeout=10) as response:
        return json.loads(response.read())


def _faults(url: str, *faults: dict) -> None:
    _post(url + "/control", {"faults": list(faults)})


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_naming(exc: pytest.ExceptionInfo, endpoint: str) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert endpoint in message
    return message


# -- vectors -------------------------------------------------------------------------------------


def test_vectors_equal_the_local_embedder_in_input_order(server, local):
    with RemoteEmbedder("all-MiniLM-L6-v2", server, batch_size=16, **FAST) as remote:
        assert remote.dim == 384  # discovered by the probe request
        got = remote.embed(TEXTS)
        info = remote.embed_with_info(TEXTS[:3])
    want = local.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    assert _cosines(got, want).min() >= 0.9999  # measured: 1 - 1e-7
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(info.tokens, [len(t) // 4 + 1 for t in TEXTS[:3]])
    assert not info.truncated.any()


def test_rows_are_placed_by_the_reply_index(server, local):
    with RemoteEmbedder("m", server, dim=384, **FAST) as remote:
        _faults(server, {"shuffle": True})
        got = remote.embed(TEXTS[:6])
    assert _cosines(got, local.embed(TEXTS[:6])).min() >= 0.9999


def test_queries_and_documents_get_their_own_prompts(server, local):
    with RemoteEmbedder("m", server, query_prompt="query: ", document_prompt="passage: ", **FAST) as remote:
        queries = remote.embed_queries(TEXTS[:4])
        assert _stats(server)["last_inputs"] == ["query: " + t for t in TEXTS[:4]]
        documents = remote.embed(TEXTS[:4])
        assert _stats(server)["last_inputs"] == ["passage: " + t for t in TEXTS[:4]]
        assert remote.token_counts(["abc"])[0].tolist() == [len("passage: abc") // 4 + 1]
    assert _cosines(queries, local.embed(["query: " + t for t in TEXTS[:4]])).min() >= 0.9999
    assert _cosines(documents, local.embed(["passage: " + t for t in TEXTS[:4]])).min() >= 0.9999
    assert _cosines(queries, documents).max() < 0.999  # the prompts made a difference


def test_threads_sharing_one_embedder_each_get_their_own_rows(server, local):
    want = local.embed(TEXTS[:40])
    results: dict[int, np.ndarray] = {}
    with RemoteEmbedder("m", server, batch_size=3, concurrency=3, dim=384, **FAST) as remote:
        threads = [threading.Thread(target=lambda k=k: results.__setitem__(k, remote.embed(TEXTS[k * 10 : k * 10 + 10]))) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(4):
        assert _cosines(results[k], want[k * 10 : k * 10 + 10]).min() >= 0.9999


def test_start_in_thread_serves_any_embedder():
    class Counting:  # vector i: (len(text), 1, 0), so rows show which text they came from
        def embed(self, texts):
            return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)

    server, url = start_in_thread(Counting())
    try:
        with RemoteEmbedder("fake", url, **FAST) as remote:
            got = remote.embed(["a", "abcd", "ab"])
    finally:
        server.shutdown()
        server.server_close()
    assert remote.dim == 3
    np.testing.assert_allclose(got[:, 0] / got[:, 1], [1, 4, 2], rtol=1e-6)


# -- batching and concurrency ----------------------------------------------------------------------


def test_requests_hold_at_most_batch_size_texts(server):
    with RemoteEmbedder("m", server, batch_size=8, dim=384, **FAST) as remote:
        remote.embed(TEXTS)
    sizes = _stats(server)["batch_sizes"]
    assert max(sizes) <= 8 and sum(sizes) == 100 and len(sizes) == 13


def test_requests_hold_at_most_batch_tokens_and_a_long_text_goes_alone(server):
    texts = ["x" * 400] * 5 + ["y" * 2000] + ["z" * 400] * 2  # 101 estimated tokens each, the long one 501
    with RemoteEmbedder("m", server, batch_size=64, batch_tokens=250, concurrency=1, dim=384, **FAST) as remote:
        remote.embed(texts)
    assert _stats(server)["batch_sizes"] == [2, 2, 1, 1, 2]


def test_plan_requests():
    assert plan_requests([1] * 5, 2, 100) == [(0, 2), (2, 4), (4, 5)]
    assert plan_requests([60, 50, 10, 300, 5], 10, 100) == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert plan_requests([], 4, 100) == []


@pytest.mark.parametrize("concurrency", [2, 4])
def test_requests_in_flight_never_exceed_concurrency(server, concurrency):
    with RemoteEmbedder("m", server, batch_size=2, concurrency=concurrency, dim=384, **FAST) as remote:
        _faults(server, *[{"sleep": 0.15}] * 8)  # slow requests overlap unless the client holds them back
        remote.embed(TEXTS[:16])
    seen = _stats(server)["max_concurrent"]
    assert seen <= concurrency
    assert seen >= min(concurrency, 3)  # the bound was reached: requests do run in parallel


# -- the key -------------------------------------------------------------------------------------


def test_api_key_is_sent_as_bearer_and_never_shown(server, monkeypatch):
    secret = "sk-test-not-a-real-key-4711"
    monkeypatch.setenv("RETRIEVAL_TEST_EMBED_KEY", secret)
    with RemoteEmbedder("m", server, api_key_env="RETRIEVAL_TEST_EMBED_KEY", **FAST) as remote:
        remote.embed(["hello"])
        assert _stats(server)["last_authorization"] == f"Bearer {secret}"
        for shown in (json.dumps(remote.describe()), repr(remote), remote.fingerprint):
            assert secret not in shown
        _faults(server, {"status": 401})
        with pytest.raises(EmbeddingEndpointError) as exc:
            remote.embed(["hello"])
        assert secret not in str(exc.value)
    monkeypatch.delenv("RETRIEVAL_TEST_EMBED_KEY")
    with RemoteEmbedder("m", server, api_key_env="RETRIEVAL_TEST_EMBED_KEY", dim=384, **FAST) as remote:
        remote.embed(["hello"])
    assert _stats(server)["last_authorization"] is None


def test_describe_and_fingerprint(server):
    with RemoteEmbedder("m", server, query_prompt="q: ", **FAST) as a, RemoteEmbedder("m", server + "/v1/", query_prompt="q: ", dim=384) as b:
        described = a.describe()
        assert described["kind"] == "openai" and described["variant"] == "remote" and described["dim"] == 384
        assert described["endpoint"] == server and described["prompts"] == {"query": "q: ", "document": ""}
        assert described["fingerprint"] == a.fingerprint == b.fingerprint  # the endpoint is not identity
    with RemoteEmbedder("m", server, query_prompt="other: ", dim=384) as c, RemoteEmbedder("m2", server, query_prompt="q: ", dim=384) as d:
        assert len({a.fingerprint, c.fingerprint, d.fingerprint}) == 3


# -- failures ------------------------------------------------------------------------------------


def test_dead_endpoint_fails_after_the_retries():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(EmbeddingEndpointError) as exc:
        RemoteEmbedder("m", url, retries=2, **FAST)  # the dimension probe
    message = _one_line_naming(exc, url + "/v1/embeddings")
    assert "unreachable after 3 attempts" in message and "refused" in message


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"status": 429, "retry_after": 0}])
def test_a_transient_failure_is_retried(server, local, fault):
    with RemoteEmbedder("m", server, retries=1, dim=384, **FAST) as remote:
        _faults(server, fault)
        got = remote.embed(TEXTS[:5])
    assert _stats(server)["requests"] == 2
    assert _cosines(got, local.embed(TEXTS[:5])).min() >= 0.9999


def test_retry_after_is_honoured(server):
    with RemoteEmbedder("m", server, retries=1, dim=384, **FAST) as remote:
        _faults(server, {"status": 429, "retry_after": 0.4})
        t0 = time.perf_counter()
        remote.embed(["x"])
        assert time.perf_counter() - t0 >= 0.4


def test_a_dropped_kept_alive_connection_is_reopened_without_an_attempt(server):
    with RemoteEmbedder("m", server, retries=0, dim=384, **FAST) as remote:
        remote.embed(["x"])  # leaves a kept-alive connection in the pool
        _faults(server, {"drop": True})
        assert remote.embed(["x"]).shape == (1, 384)
    assert _stats(server)["requests"] == 3
    with RemoteEmbedder("m", server, retries=0, dim=384, **FAST) as remote:
        _faults(server, {"drop": True})  # on a fresh connection it is a failure like any other
        with pytest.raises(EmbeddingEndpointError) as exc:
            remote.embed(["x"])
    assert "unreachable after 1 attempt:" in _one_line_naming(exc, remote.endpoint)


def test_failing_more_often_than_retries_names_the_attempts(server):
    with RemoteEmbedder("m", server, retries=2, dim=384, **FAST) as remote:
        _faults(server, *[{"status": 500}] * 3)
        with pytest.raises(EmbeddingEndpointError) as exc:
            remote.embed(["x"])
    message = _one_line_naming(exc, remote.endpoint)
    assert "after 3 attempts" in message and "HTTP 500" in message
    assert _stats(server)["requests"] == 3


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"malformed": True}, "malformed reply: not JSON"),
        ({"dim": 7}, "returned 7-d vectors, expected 384"),
        ({"status": 401}, "set the environment variable RETRIEVAL_NO_SUCH_KEY"),
        ({"status": 400}, "rejected the request (HTTP 400)"),
    ],
)
def test_a_permanent_failure_is_not_retried(server, fault, expected):
    with RemoteEmbedder("m", server, retries=3, api_key_env="RETRIEVAL_NO_SUCH_KEY", dim=384, **FAST) as remote:
        _faults(server, fault)
        with pytest.raises(EmbeddingEndpointError) as exc:
            remote.embed(["x", "y"])
    assert expected in _one_line_naming(exc, remote.endpoint)
    assert _stats(server)["requests"] == 1


def test_a_slow_reply_times_out(server):
    with RemoteEmbedder("m", server, timeout_s=0.3, retries=0, dim=384, **FAST) as remote:
        _faults(server, {"sleep": 1.0})
        with pytest.raises(EmbeddingEndpointError) as exc:
            remote.embed(["x"])
        assert "timed out after 1 attempt" in _one_line_naming(exc, remote.endpoint)
        assert remote.embed(["x"]).shape == (1, 384)  # the next request is served normally
    deadline = time.monotonic() + 5
    while _stats(server)["in_flight"] and time.monotonic() < deadline:  # let the sleeper finish
        time.sleep(0.05)


def test_a_closed_embedder_says_so(server):
    remote = RemoteEmbedder("m", server, dim=384)
    remote.close()
    with pytest.raises(EmbeddingEndpointError, match="closed"):
        remote.embed(["x"])


# -- specs and options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "model", "url"),
    [
        ("openai:text-embedding-3-small@https://api.openai.com/v1", "text-embedding-3-small", "https://api.openai.com/v1"),
        ("openai:all-MiniLM-L6-v2@http://127.0.0.1:7997/", "all-MiniLM-L6-v2", "http://127.0.0.1:7997"),
        ("openai:org@model@http://localhost:8000/api/v1", "org@model", "http://localhost:8000/api/v1"),
    ],
)
def test_parse_remote_spec(spec, model, url):
    assert parse_remote_spec(spec) == (model, url)


@pytest.mark.parametrize(
    "spec",
    ["text-embedding-3-small@https://api.openai.com/v1", "openai:model", "openai:@http://host", "openai:m@ftp://host",
     "openai:m@http://", "openai:m@localhost:8000", "openai:m@http://host:notaport", "openai:m@http://host/v1?x=1", ""],
)
def test_bad_specs_are_config_errors(spec):
    with pytest.raises(ConfigError) as exc:
        parse_remote_spec(spec)
    assert "\n" not in str(exc.value) and "openai:" in str(exc.value)


def test_embeddings_url():
    assert embeddings_url("https://api.openai.com/v1") == "https://api.openai.com/v1/embeddings"
    assert embeddings_url("http://127.0.0.1:7997/") == "http://127.0.0.1:7997/v1/embeddings"
    assert embeddings_url("http://h/proxy/v1/") == "http://h/proxy/v1/embeddings"


@pytest.mark.parametrize(
    "option",
    [{"batch_size": 0}, {"batch_tokens": -1}, {"concurrency": 1.5}, {"timeout_s": 0}, {"timeout_s": float("inf")},
     {"retries": -1}, {"backoff_s": -0.1}, {"api_key_env": ""}, {"query_prompt": None}, {"dim": 0}, {"max_tokens": True}],
)
def test_bad_options_are_config_errors(option):
    with pytest.raises(ConfigError) as exc:
        RemoteEmbedder("m", "http://127.0.0.1:9", **{"dim": 384, **option})
    assert "\n" not in str(exc.value)


def test_from_spec_rejects_unknown_options():
    with pytest.raises(ConfigError, match="unknown remote embedder option"):
        RemoteEmbedder.from_spec("openai:m@http://127.0.0.1:9", batchsize=8)


# -- bundles built through the endpoint --------------------------------------------------------


def _scifact(scifact_dir, n_docs: int = 120, n_queries: int = 20):
    from retrieval.types import Document

    docs = []
    with (scifact_dir / "corpus.jsonl").open() as f:
        for line in f:
            row = json.loads(line)
            docs.append(Document(id=row["_id"], title=row.get("title", ""), text=row["text"]))
            if len(docs) == n_docs:
                break
    with (scifact_dir / "queries.jsonl").open() as f:
        queries = [json.loads(line)["text"] for line, _ in zip(f, range(n_queries))]
    return docs, queries


def _remote_config(server: str, **embedding):
    from retrieval import IndexConfig

    return IndexConfig.from_dict({"sentences": False, "vector": {"kind": "flat"},
                                  "embedding": {"model": f"openai:all-MiniLM-L6-v2@{server}", **embedding}})


def test_a_bundle_built_through_the_endpoint_searches_like_the_local_one(server, scifact_dir, tmp_path):
    from retrieval import Engine, IndexConfig

    docs, queries = _scifact(scifact_dir)
    remote = Engine.build(docs, tmp_path / "remote", _remote_config(server))
    local = Engine.build(docs, tmp_path / "local", IndexConfig.from_dict({"sentences": False, "vector": {"kind": "flat"}}))
    with remote, local:
        described = remote.manifest.dense.embedder
        assert (described["kind"], described["model_id"], described["dim"]) == ("openai", "all-MiniLM-L6-v2", 384)
        assert described["endpoint"].startswith("http://127.0.0.1:") and "key" not in json.dumps(described).lower()
        for query in queries:
            for mode in ("dense", "hybrid"):
                want = [h.chunk for h in local.search(query, k=10, mode=mode).hits]
                assert [h.chunk for h in remote.search(query, k=10, mode=mode).hits] == want, (query, mode)
    # Reopened from disk: the dimension comes from the manifest, the endpoint is asked nothing.
    before = _stats(server)["requests"]
    with Engine.open(tmp_path / "remote") as reopened:
        assert _stats(server)["requests"] == before
        assert reopened.search(queries[0], k=3, mode="bm25").hits


@pytest.mark.parametrize("faults, message", [
    ([{}] + [{"status": 500}] * 3, "after 2 attempts"),
    ([{}, {"dim": 7}], "7-d vectors, expected 384"),
    ([{}, {"malformed": True}], "malformed reply: not JSON"),
])
def test_a_failed_build_leaves_no_bundle(server, tmp_path, faults, message):
    from retrieval import Engine
    from retrieval.types import Document

    docs = [Document(id=f"d{i}", title="", text=f"Document {i} about {TOPICS[i % len(TOPICS)]}.") for i in range(40)]
    config = _remote_config(server, remote_retries=1, remote_batch=8, remote_concurrency=1)
    _post(server + "/control", {"faults": faults})  # the first request is the build's dimension probe: it passes
    with pytest.raises(EmbeddingEndpointError) as caught:
        Engine.build(docs, tmp_path / "b", config)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "b").exists()


def test_a_dead_endpoint_fails_the_build_at_once(tmp_path):
    from retrieval import Engine
    from retrieval.types import Document

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    config = _remote_config(f"http://127.0.0.1:{port}", remote_retries=0)
    with pytest.raises(EmbeddingEndpointError, match="unreachable"):
        Engine.build([Document(id="d", title="", text="text")], tmp_path / "b", config)
    assert not (tmp_path / "b").exists()
