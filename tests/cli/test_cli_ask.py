"""`retrieval ask` and `retrieval bench compress|ask`: contract keys, streaming, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error, run
from tests.conftest import SMALL_CORPUS, write_jsonl
from tests.generation.http_fakes import free_port

ASK_KEYS = {"answer", "ttft_ms", "tokens_per_s", "prompt_tokens", "context_tokens_before", "context_tokens_after", "timings_ms"}


@pytest.fixture(scope="module")
def keyword_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-ask")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    proc = run("index", str(corpus), "--out", str(root / "bundle"), "--no-dense", "--json")
    assert proc.returncode == 0, proc.stderr
    return root / "bundle"


def test_ask_json(keyword_bundle: Path):
    proc = run("ask", str(keyword_bundle), "How do I parse a JSON string?", "--max-tokens", "16", "--budget-tokens", "30", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # exactly one JSON object, nothing streamed before it
    assert set(result) >= ASK_KEYS
    assert isinstance(result["answer"], str) and result["answer"]
    assert result["context_tokens_after"] <= 30 and result["context_tokens_before"] >= result["context_tokens_after"]
    assert result["ttft_ms"] > 0 and result["prompt_tokens"] > result["context_tokens_after"]
    assert {"search", "compress", "prefill"} <= set(result["timings_ms"])
    assert result["sources"] and result["sources"][0]["doc_id"] == "json"


def test_ask_streams_text_and_reports_on_stderr(keyword_bundle: Path):
    proc = run("ask", str(keyword_bundle), "How do I read a file line by line?", "--max-tokens", "12", "--no-compress", "--show-sources")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() and "[1] files" in proc.stdout
    assert "first token" in proc.stderr


def test_ask_errors_are_one_line(keyword_bundle: Path, tmp_path: Path):
    assert_one_line_error(run("ask", str(tmp_path / "missing"), "q"), "no index bundle")
    assert_one_line_error(run("ask", str(keyword_bundle), "  "), "question")
    assert_one_line_error(run("ask", str(keyword_bundle), "q", "--generator", "nope"), "invalid choice")
    assert_one_line_error(run("ask", str(keyword_bundle), "q", "--budget-tokens", "0"), "positive integer")
    assert_one_line_error(run("ask", str(keyword_bundle), "q", "--model", str(tmp_path / "none.gguf")), "none.gguf")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    proc = run("ask", str(keyword_bundle), "q", "--generator", "openai", "--base-url", dead, "--max-tokens", "8")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "127.0.0.1" in proc.stderr


def test_bench_compress_bad_input(tmp_path: Path):
    assert_one_line_error(run("bench", "compress", str(tmp_path / "missing.json")), "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(run("bench", "compress", str(bad)), "bad.json")


def test_ask_filter_keeps_sources_to_matching_documents(tmp_path: Path):
    rows = [
        {"_id": "py-json", "title": "json", "text": "The json module parses JSON text with json.loads.", "lang": "python"},
        {"_id": "js-json", "title": "JSON.parse", "text": "JSON.parse parses JSON text into an object.", "lang": "javascript"},
        {"_id": "py-files", "title": "files", "text": "Iterate over a file object to read it line by line.", "lang": "python"},
    ]
    corpus = write_jsonl(tmp_path / "corpus.jsonl", rows)
    proc = run("index", str(corpus), "--out", str(tmp_path / "bundle"), "--no-dense", "--json")
    assert proc.returncode == 0, proc.stderr
    for lang, allowed in (("javascript", {"js-json"}), ("python", {"py-json", "py-files"})):
        proc = run("ask", str(tmp_path / "bundle"), "How do I parse JSON text?", "--filter", f"lang={lang}",
                   "--max-tokens", "8", "--json")
        assert proc.returncode == 0, proc.stderr
        sources = {s["doc_id"] for s in json.loads(proc.stdout)["sources"]}
        assert sources and sources <= allowed
    assert_one_line_error(run("ask", str(tmp_path / "bundle"), "q", "--filter", "lang"), "KEY=VALUE")
