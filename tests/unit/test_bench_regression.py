"""regression.check: fires on a doctored result, quiet on the identical one."""

from __future__ import annotations

import copy

import pytest

from retrieval.bench.regression import check
from retrieval.errors import ConfigError

BASELINE = {
    "rows": [
        {"index": "flat", "params": {}, "recall@10": 1.0, "qps": 1000.0},
        {"index": "hnsw", "params": {"M": 16, "ef_search": 32}, "recall@10": 0.9, "qps": 5000.0},
        {"index": "ivf", "params": {"nlist": 64, "nprobe": 4}, "recall@10": 0.8, "qps": 8000.0},
    ]
}


def test_identical_result_passes():
    assert check(copy.deepcopy(BASELINE), BASELINE) == []


def test_small_changes_within_budget_pass():
    cur = copy.deepcopy(BASELINE)
    cur["rows"][1]["qps"] = 4600.0  # -8%
    cur["rows"][1]["recall@10"] = 0.82  # -0.08 <= 0.1 * 0.9
    cur["rows"][2]["params"] = {"nprobe": 4, "nlist": 64}  # key order does not matter
    cur["rows"].append({"index": "sq8", "params": {}, "recall@10": 0.5, "qps": 1.0})  # new rows ignored
    assert check(cur, BASELINE) == []


def test_doctored_result_fires_once_per_problem():
    cur = copy.deepcopy(BASELINE)
    cur["rows"][1]["qps"] /= 2
    cur["rows"][2]["recall@10"] = 0.70  # -0.10 > 0.08
    del cur["rows"][0]
    messages = check(cur, BASELINE, max_regression_pct=10)
    assert len(messages) == 3
    assert any("flat" in m and "missing" in m for m in messages)
    assert any('"ef_search": 32' in m and "qps fell 50.0%" in m for m in messages)
    assert any('"nprobe": 4' in m and "recall@10 dropped" in m for m in messages)


def test_budget_is_respected():
    cur = copy.deepcopy(BASELINE)
    cur["rows"][1]["qps"] = 4000.0  # -20%
    assert check(cur, BASELINE, max_regression_pct=25) == []
    assert len(check(cur, BASELINE, max_regression_pct=10)) == 1


def test_accepts_row_lists_and_rejects_garbage():
    assert check(BASELINE["rows"], BASELINE["rows"]) == []
    with pytest.raises(ConfigError):
        check({"nope": 1}, BASELINE)
    with pytest.raises(ConfigError):
        check(BASELINE, BASELINE, max_regression_pct=-1)
