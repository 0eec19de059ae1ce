"""Every engine a command opens is closed, whether the command succeeds or fails after opening it.

The commands run in-process with ``Engine`` instrumented: each engine constructed (by ``open`` or
``build``) is recorded, and so is each ``close``.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from retrieval import Engine, IndexConfig
from retrieval.cli import main
from tests.conftest import SMALL_CORPUS, write_jsonl


class EngineLedger:
    def __init__(self) -> None:
        self.opened: list[Engine] = []
        self.closed: set[int] = set()

    def unclosed(self) -> list[Engine]:
        return [engine for engine in self.opened if id(engine) not in self.closed]


@pytest.fixture()
def ledger(monkeypatch) -> EngineLedger:
    ledger = EngineLedger()
    real_init, real_close = Engine.__init__, Engine.close

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        ledger.opened.append(self)

    def close(self):
        ledger.closed.add(id(self))
        real_close(self)

    monkeypatch.setattr(Engine, "__init__", init)
    monkeypatch.setattr(Engine, "close", close)
    monkeypatch.delenv("RETRIEVAL_DEBUG", raising=False)
    return ledger


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engines-closed")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": False})).close()
    (root / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tjson\t1\nq2\tre\t1\n")
    return {
        "corpus": corpus,
        "bundle": root / "bundle",
        "queries": write_jsonl(root / "q.jsonl", [{"_id": "q1", "text": "parse json"}, {"_id": "q2", "text": "regular expression"}]),
        "qrels": root / "qrels.tsv",
    }


def run(ledger: EngineLedger, capsys, *argv: object, rc: int = 0) -> None:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == rc, err
    assert ledger.opened, "the command opened no engine: this test would prove nothing"
    assert not ledger.unclosed(), f"{len(ledger.unclosed())} of {len(ledger.opened)} engines left open"


def test_index_closes_the_engine_it_builds(ledger, capsys, inputs, tmp_path):
    run(ledger, capsys, "index", inputs["corpus"], "--out", tmp_path / "b", "--no-dense", "--json")


def test_search_closes_its_engine(ledger, capsys, inputs):
    run(ledger, capsys, "search", inputs["bundle"], "json", "--json")


def test_search_that_fails_after_opening_closes_its_engine(ledger, capsys, inputs):
    run(ledger, capsys, "search", inputs["bundle"], "json", "--mode", "dense", rc=2)  # a keyword-only bundle


def test_eval_closes_its_engine(ledger, capsys, inputs):
    run(ledger, capsys, "eval", inputs["bundle"], "--queries", inputs["queries"], "--qrels", inputs["qrels"], "--json")


def test_bench_quality_closes_its_engine(ledger, capsys, inputs):
    run(ledger, capsys, "bench", "quality", inputs["bundle"], "--queries", inputs["queries"], "--qrels", inputs["qrels"], "--json")


def test_bench_sweep_closes_the_engine_it_reads_vectors_from(ledger, capsys, inputs):
    run(ledger, capsys, "bench", "sweep", inputs["bundle"], "--json", rc=2)  # keyword-only: nothing to sweep


def test_bench_sweep_over_a_dense_bundle_closes_its_engine(ledger, capsys, inputs, tmp_path):
    bundle = tmp_path / "dense"
    topics = ["sorting lists", "date parsing", "sockets", "threads", "unit tests", "logging", "paths", "decimals",
              "zip files", "csv files", "random numbers", "command-line options"]  # more than k=10 chunks
    corpus = write_jsonl(tmp_path / "dense.jsonl", [{"_id": f"d{i}", "text": f"How to use {t} in Python."} for i, t in enumerate(topics)])
    Engine.build(corpus, bundle).close()
    grid = tmp_path / "flat.toml"
    grid.write_text("[flat]\n")
    ledger.opened.clear()
    code = main(["bench", "sweep", str(bundle), "--queries", str(inputs["queries"]), "--config", str(grid), "--repeats", "1",
                 "--results-dir", str(tmp_path / "results"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [row["index"] for row in json.loads(out)["rows"]] == ["flat"]
    assert len(ledger.opened) == 1 and not ledger.unclosed()


def test_ask_closes_its_engine(ledger, capsys, inputs):
    pytest.importorskip("llama_cpp")
    run(ledger, capsys, "ask", inputs["bundle"], "How do I parse JSON?", "--max-tokens", "4", "--budget-tokens", "30", "--json")


def test_ask_and_bench_ask_whose_generator_fails_close_their_engine(ledger, capsys, inputs, tmp_path):
    missing = tmp_path / "none.gguf"
    run(ledger, capsys, "ask", inputs["bundle"], "q", "--model", missing, rc=2)
    run(ledger, capsys, "bench", "ask", inputs["bundle"], "--queries", inputs["queries"], "--model", missing, rc=2)


def test_serve_that_cannot_bind_closes_its_engine(ledger, capsys, inputs):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        run(ledger, capsys, "serve", inputs["bundle"], "--port", port, "--metrics-port", "0", "--generator", "none", rc=2)


def test_update_and_compact_leave_no_engine_open(ledger, capsys, inputs, tmp_path):
    bundle = tmp_path / "b"
    assert main(["index", str(inputs["corpus"]), "--out", str(bundle), "--no-dense"]) == 0
    changes = write_jsonl(tmp_path / "changes.jsonl", [{"_id": "new", "title": "New", "text": "wombats"}])
    assert main(["update", str(bundle), "--upsert", str(changes), "--delete", "re"]) == 0
    assert main(["compact", str(bundle)]) == 0
    capsys.readouterr()
    assert ledger.opened and not ledger.unclosed()


def test_bench_compress_closes_its_engine(ledger, capsys, tmp_path, monkeypatch):
    from tests.context.test_bench_compress import _squad

    monkeypatch.setenv("RETRIEVAL_CACHE", str(tmp_path / "cache"))  # the bundle of the paragraphs goes here
    run(ledger, capsys, "bench", "compress", _squad(tmp_path / "squad.json"), "--questions", "2", "-k", "2", "--json")
