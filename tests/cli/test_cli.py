"""The command-line contract (../shared/CONTRACT.md): JSON keys, and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SMALL_CORPUS, write_jsonl


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RETRIEVAL_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "retrieval.cli", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, fragment: str) -> None:
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr.strip()
    assert "\n" not in err, err
    assert "Traceback" not in err
    assert fragment in err, err
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    out = root / "bundle"
    proc = run("index", str(corpus), "--out", str(out), "--no-dense", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {"chunks", "documents", "seconds", "dir"}
    assert result["documents"] == 5 and result["chunks"] == 4 and result["dir"] == str(out)
    return out


def test_search_json(bundle: Path):
    proc = run("search", str(bundle), "json module", "-k", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["hits"]) == 2
    assert set(result["hits"][0]) >= {"id", "doc_id", "score", "text"}
    assert result["hits"][0]["doc_id"] == "json"
    assert set(result["timings_ms"]) >= {"analyze", "bm25", "fetch"}


def test_search_human_output(bundle: Path):
    proc = run("search", str(bundle), "read file line")
    assert proc.returncode == 0, proc.stderr
    assert "files#0" in proc.stdout.splitlines()[0]


def test_eval_json(bundle: Path, tmp_path: Path):
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "json"}, {"_id": "q2", "text": "regular expression"}])
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tjson\t1\nq2\tre\t1\n")
    proc = run("eval", str(bundle), "--queries", str(queries), "--qrels", str(qrels), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ndcg@10"] == 1.0 and result["recall@100"] == 1.0 and result["queries"] == 2
    assert set(result["latency_ms"]) == {"p50", "p95", "p99"}


def test_bench_bm25_json(scifact_dir: Path):
    proc = run("bench", "bm25", str(scifact_dir), "--queries", str(scifact_dir / "queries.jsonl"),
               "--limit", "12", "--no-numba", "--repeats", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {"ours_qps", "bm25s_qps", "rank_bm25_qps", "top10_agreement_rank_bm25", "queries"}
    assert result["queries"] == 12
    assert result["top10_agreement_rank_bm25"] == 1.0


def test_bad_corpus_inputs(tmp_path: Path):
    assert_one_line_error(run("index", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"), "--no-dense"), "not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "fine"}\n{"_id": "b", "text": \n')
    assert_one_line_error(run("index", str(bad), "--out", str(tmp_path / "o"), "--no-dense"), "bad.jsonl:2")
    missing = write_jsonl(tmp_path / "missing.jsonl", [{"_id": "a", "body": "x"}])
    assert_one_line_error(run("index", str(missing), "--out", str(tmp_path / "o"), "--no-dense"), "'text'")
    weird = tmp_path / "corpus.csv"
    weird.write_text("id,text\n")
    assert_one_line_error(run("index", str(weird), "--out", str(tmp_path / "o"), "--no-dense"), "corpus.csv")
    assert not (tmp_path / "o").exists()


def test_bad_index_options(tmp_path: Path, small_corpus: Path):
    out = str(tmp_path / "o")
    assert_one_line_error(run("index", str(small_corpus), "--out", out, "--vector-index", "annoy"), "invalid choice")
    assert_one_line_error(run("index", str(small_corpus), "--out", out, "--no-dense", "--set", "bm25.k2=1"), "unknown config key")
    assert_one_line_error(run("index", str(small_corpus), "--out", out, "--no-dense", "--set", "bm25.variant=bm42"), "bm25.variant")
    assert_one_line_error(run("index", str(small_corpus), "--out", out, "--no-dense", "--config", str(tmp_path / "x.toml")), "config file not found")
    assert_one_line_error(run("index", str(small_corpus)), "--out")
    assert not (tmp_path / "o").exists()


def test_existing_output_needs_overwrite(bundle: Path, small_corpus: Path):
    assert_one_line_error(run("index", str(small_corpus), "--out", str(bundle), "--no-dense"), "already exists")


def test_bad_search_inputs(bundle: Path, tmp_path: Path):
    assert_one_line_error(run("search", str(tmp_path / "none"), "x"), "no index bundle")
    assert_one_line_error(run("search", str(bundle), "x", "-k", "0"), "positive integer")
    assert_one_line_error(run("search", str(bundle), "x", "-k", "ten"), "positive integer")
    assert_one_line_error(run("search", str(bundle), "x", "--mode", "fuzzy"), "invalid choice")
    assert_one_line_error(run("search", str(bundle), "x", "--mode", "dense"), "dense index")
    assert_one_line_error(run("frobnicate"), "invalid choice")


def test_corrupt_bundle_is_reported(bundle: Path, tmp_path: Path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    with open(copy / "chunks.parquet", "r+b") as f:
        f.seek(10)
        f.write(b"XX")
    assert_one_line_error(run("search", str(copy), "json"), "sha256")


def test_bad_eval_inputs(bundle: Path, tmp_path: Path):
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "json"}])
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tjson\n")
    assert_one_line_error(run("eval", str(bundle), "--queries", str(queries), "--qrels", str(qrels)), "qrels.tsv:2")
    assert_one_line_error(run("eval", str(bundle), "--queries", str(tmp_path / "nq.jsonl"), "--qrels", str(qrels)), "nq.jsonl")


def test_killed_build_leaves_no_bundle(tmp_path: Path):
    # A corpus big enough that the build is still running when it is killed.
    rows = [{"_id": str(i), "text": f"document number {i} about topic {i % 97}. " * 20} for i in range(60_000)]
    corpus = write_jsonl(tmp_path / "big.jsonl", rows)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "retrieval.cli", "index", str(corpus), "--out", str(out), "--no-dense"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp_path.glob(".out.tmp-*")), "the build never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    # The next build clears the dead one's leftovers and succeeds.
    small = write_jsonl(tmp_path / "small.jsonl", SMALL_CORPUS)
    assert run("index", str(small), "--out", str(out), "--no-dense").returncode == 0
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_bad_bench_and_eval_options(bundle: Path, tmp_path: Path, small_corpus: Path):
    assert_one_line_error(run("bench", "bm25", str(small_corpus), "--queries", str(tmp_path / "nq.jsonl")), "nq.jsonl")
    assert_one_line_error(run("bench", "bm25", str(small_corpus), "--queries", str(small_corpus), "--limit", "0"), "positive integer")
    assert_one_line_error(run("bench", "frobnicate"), "invalid choice")
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "json"}])
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\tjson\t1\n")
    assert_one_line_error(run("eval", str(bundle), "--queries", str(queries), "--qrels", str(qrels), "-k", "0"), "positive integer")
    assert_one_line_error(run("eval", str(bundle), "--queries", str(queries), "--qrels", str(qrels), "--mode", "x"), "invalid choice")
    assert_one_line_error(run("eval", str(bundle), "--queries", str(queries)), "--qrels")


def test_bench_sweep_json_and_regression_budget(tmp_path: Path):
    import numpy as np

    from retrieval.bench.vecs import write_vecs

    rng = np.random.default_rng(5)
    base = write_vecs(tmp_path / "base.fvecs", rng.standard_normal((1500, 16)).astype(np.float32))
    queries = write_vecs(tmp_path / "q.fvecs", rng.standard_normal((20, 16)).astype(np.float32))
    args = ["bench", "sweep", "--fvecs", str(base), "--queries", str(queries), "--config", "benchmarks/configs/quick.toml",
            "--repeats", "1", "--results-dir", str(tmp_path / "results")]
    root = Path(__file__).resolve().parents[2]
    proc = run(*args, "--json", "--plot", str(tmp_path / "sweep.png"), cwd=root)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    row_keys = {"index", "params", "recall@10", "qps", "p50_ms", "p99_ms", "build_s", "memory_mb"}
    assert result["rows"] and all(row_keys <= set(r) for r in result["rows"])
    assert result["faiss_direct"] and all(row_keys <= set(r) for r in result["faiss_direct"])
    assert (tmp_path / "sweep.png").stat().st_size > 0
    assert list((tmp_path / "results").glob("*.jsonl"))
    # A baseline 10x faster than anything this run can do: every configuration must be named.
    for row in result["rows"]:
        row["qps"] *= 10
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(result))
    proc = run(*args, "--baseline", str(baseline), cwd=root)
    assert proc.returncode != 0
    assert proc.stderr.count("regression:") == len(result["rows"])
    assert_one_line_error(run("bench", "sweep", "--fvecs", str(tmp_path / "none.fvecs"), "--queries", str(queries)), "none.fvecs")
    assert_one_line_error(run("bench", "sweep"), "either a bundle")


def test_bench_bm25_skips_rank_bm25_above_its_limit(small_corpus: Path, tmp_path: Path):
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "json parsing"}])
    proc = run("bench", "bm25", str(small_corpus), "--queries", str(queries), "--peers", "rank-bm25",
               "--rank-bm25-max-docs", "1", "--repeats", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result["libraries"]) == {"ours"}
    assert "rank-bm25" in result["skipped"] and result["rank_bm25_qps"] is None
    assert result["top10_agreement_rank_bm25"] is None
    ours = result["libraries"]["ours"]
    assert ours["build_s"] > 0 and ours["peak_rss_mb"] > 0 and set(ours["latency_ms"]) >= {"p50", "p99"}
    assert_one_line_error(run("bench", "bm25", str(small_corpus), "--queries", str(queries), "--peers", "pyserini"),
                          "unknown peer 'pyserini'")
