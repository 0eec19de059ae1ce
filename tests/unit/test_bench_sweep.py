"""The ANN sweep end to end on a small random dataset, recall and Pareto hand cases, the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval.bench import sweep
from retrieval.bench.plot import pareto, plot
from retrieval.errors import ConfigError
from retrieval.vector import get_num_threads, recall_at_k

QUICK = Path(__file__).resolve().parents[2] / "benchmarks" / "configs" / "quick.toml"
SIFT = QUICK.parent / "siftsmall.toml"
ROW_KEYS = {"index", "params", "recall@10", "qps", "batch_qps", "p50_ms", "p95_ms", "p99_ms", "build_s", "memory_mb"}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return rng.standard_normal((2_000, 16)).astype(np.float32), rng.standard_normal((40, 16)).astype(np.float32)


@pytest.fixture(scope="module")
def result(data):
    base, queries = data
    return sweep.run(base, queries, config=sweep.load_config(QUICK), repeats=1)


def test_recall_hand_cases():
    true = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]), true, 4) == 1.0
    assert recall_at_k(np.array([[4, 3, 9, 9], [8, -1, -1, -1]]), true, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert recall_at_k(np.array([[1, 9], [9, 9]]), true, 2) == pytest.approx(0.25)


def test_pareto_hand_case():
    rows = [
        {"id": "a", "recall@10": 0.5, "qps": 1000},
        {"id": "b", "recall@10": 0.7, "qps": 900},
        {"id": "c", "recall@10": 0.6, "qps": 800},  # dominated by b
        {"id": "d", "recall@10": 0.9, "qps": 100},
        {"id": "e", "recall@10": 0.9, "qps": 50},  # same recall as d, slower
        {"id": "f", "recall@10": 1.0, "qps": 10},
        {"id": "g", "recall@10": 0.4, "qps": 1000},  # same qps as a, lower recall
    ]
    assert [r["id"] for r in pareto(rows)] == ["a", "b", "d", "f"]
    assert pareto([]) == []


def test_sweep_contract(result):
    assert {"rows", "faiss_direct", "overhead", "k", "threads", "machine"} <= set(result)
    assert result["k"] == 10 and result["threads"] == 1
    assert {"python", "platform", "cpus", "faiss"} <= set(result["machine"])
    kinds = {r["index"] for r in result["rows"]}
    assert kinds == {"flat", "hnsw", "ivf", "ivfpq", "sq8"}
    assert len(result["rows"]) == len(result["faiss_direct"]) == 7
    for row in result["rows"] + result["faiss_direct"]:
        assert ROW_KEYS <= set(row), row
        assert 0.0 <= row["recall@10"] <= 1.0
        assert row["qps"] > 0 and row["batch_qps"] > 0 and row["memory_mb"] > 0
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"]
    assert result["overhead"]["matched"] == 7 and "median_ratio_qps" in result["overhead"]
    json.dumps(result)


def test_sweep_recall(result):
    by = {(r["index"], json.dumps(r["params"], sort_keys=True)): r for r in result["rows"]}
    assert by[("flat", "{}")]["recall@10"] == 1.0
    assert by[("ivf", '{"nlist": 16, "nprobe": 4}')]["recall@10"] >= by[("ivf", '{"nlist": 16, "nprobe": 1}')]["recall@10"]
    direct = {(r["index"], json.dumps(r["params"], sort_keys=True)): r for r in result["faiss_direct"]}
    assert direct[("flat", "{}")]["recall@10"] == 1.0
    # same build params, seeds and training sample: raw FAISS finds the same neighbours
    for key in (("ivf", '{"nlist": 16, "nprobe": 4}'), ("sq8", "{}")):
        assert direct[key]["recall@10"] == by[key]["recall@10"]


def test_search_params_split_from_build_params(result):
    hnsw = [r for r in result["rows"] if r["index"] == "hnsw"]
    assert [r["params"] for r in hnsw] == [{"M": 8, "ef_search": 8}, {"M": 8, "ef_search": 32}]
    assert hnsw[0]["build_s"] == hnsw[1]["build_s"]  # built once


def test_given_ground_truth_and_thread_restore(data):
    base, queries = data
    before = get_num_threads()
    gt = np.tile(np.arange(10), (len(queries), 1))  # deliberately wrong truth: recall must drop
    out = sweep.run(base, queries, gt=gt, config={"flat": {}}, repeats=1)
    assert out["rows"][0]["recall@10"] < 0.5
    assert get_num_threads() == before


def test_oversized_search_value_is_skipped(data):
    base, queries = data
    out = sweep.run(base, queries[:5], config={"ivf": {"nlist": 8, "nprobe": [2, 16]}}, repeats=1)
    assert [r["params"]["nprobe"] for r in out["rows"]] == [2]
    assert out["skipped"] and out["skipped"][0]["params"]["nprobe"] == 16


def test_bad_configs(data, tmp_path):
    base, queries = data
    with pytest.raises(ConfigError, match="unknown"):
        sweep.run(base, queries, config={"nope": {}})
    with pytest.raises(ConfigError, match="build parameter"):
        sweep.run(base, queries, config={"hnsw": {"efs": [1]}})
    with pytest.raises(ConfigError):
        sweep.run(base, queries[:, :8], config={"flat": {}})
    with pytest.raises(ConfigError, match="missing.toml"):
        sweep.load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[hnsw\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        sweep.load_config(bad)


def test_siftsmall_config_parses():
    cfg = sweep.load_config(SIFT)
    assert set(cfg) == {"flat", "hnsw", "ivf", "ivfpq", "sq8"}
    assert cfg["hnsw"] == {"M": [16, 32], "ef_search": [16, 32, 64, 128]}


def test_write_jsonl(result, tmp_path):
    path = sweep.write_jsonl(result, tmp_path / "results")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert path.name.startswith("sweep-") and path.suffix == ".jsonl"
    assert len(lines) == len(result["rows"]) + len(result["faiss_direct"])
    assert {line["source"] for line in lines} == {"ours", "faiss_direct"}
    assert sweep.write_jsonl(result, tmp_path / "results") != path  # never overwrites


def test_plot_writes_png(result, tmp_path):
    out = plot(result, tmp_path / "sub" / "sweep.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_default_grid_reaches_every_kinds_ceiling():
    """Without a config, IVF probes up to all its lists (exact) and HNSW's ef_search grows to 512."""
    config = sweep.default_config(10_000, k=10)
    assert set(config) == set(sweep.DEFAULT_KINDS)
    nlist = config["ivf"]["nlist"][0]
    assert config["ivf"]["nprobe"][0] == 1 and config["ivf"]["nprobe"][-1] == nlist
    assert config["hnsw"]["ef_search"][-1] == 512
    small = sweep.default_config(100, k=10)
    assert small["hnsw"]["ef_search"][-1] == 100 and small["ivf"]["nprobe"][-1] == small["ivf"]["nlist"][0]


def test_default_sweep_reaches_recall_one(data):
    base, queries = data
    result = sweep.run(base[:500], queries[:10], repeats=1)
    best = {}
    for row in result["rows"]:
        best[row["index"]] = max(best.get(row["index"], 0.0), row["recall@10"])
    assert best["flat"] == best["ivf"] == best["hnsw"] == 1.0, best
