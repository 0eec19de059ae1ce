from pathlib import Path

import pytest

from retrieval import Engine, IndexConfig
from retrieval.bench.quality_sweep import pareto_front, run
from tests.conftest import SMALL_CORPUS, write_jsonl


def test_pareto_front_by_hand():
    rows = [
        {"ndcg@10": 0.70, "p50_ms": 5.0},  # 0: best quality
        {"ndcg@10": 0.60, "p50_ms": 0.1},  # 1: fastest
        {"ndcg@10": 0.65, "p50_ms": 6.0},  # 2: dominated by 0
        {"ndcg@10": 0.66, "p50_ms": 1.0},  # 3: in between, on the front
        {"ndcg@10": 0.60, "p50_ms": 0.2},  # 4: dominated by 1
    ]
    assert pareto_front(rows) == {0, 1, 3}


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("qs")
    corpus = write_jsonl(root / "c.jsonl", SMALL_CORPUS)
    return Engine.build(corpus, root / "b", IndexConfig.from_dict({"dense": True}))


def test_sweep_covers_every_configuration_and_marks_the_front(engine: Engine):
    queries = [("q1", "parse json"), ("q2", "read a file line by line"), ("q3", "regular expressions")]
    qrels = {"q1": {"json": 1}, "q2": {"files": 1}, "q3": {"re": 1}}
    grid = {"bm25": [{}], "hybrid": [{"method": "rrf"}, {"dense_weight": 0.2}], "prefilter": [{"candidates": 5}]}
    result = run(engine, queries, qrels, grid)
    assert [(r["mode"], r["params"]) for r in result["rows"]] == [
        ("bm25", {}), ("hybrid", {"method": "rrf"}), ("hybrid", {"dense_weight": 0.2}), ("prefilter", {"candidates": 5})
    ]
    assert all(r["queries"] == 3 and 0 <= r["ndcg@10"] <= 1 for r in result["rows"])
    assert any(r["pareto"] for r in result["rows"])
    assert result["best"]["ndcg@10"] == max(r["ndcg@10"] for r in result["rows"])


def test_auto_is_a_point_with_its_share_routed_to_bm25(engine: Engine):
    from retrieval.bench.quality import evaluate

    queries = [("q1", "parse json"), ("q2", "read a file line by line"), ("q3", "zyzzyva quokka")]
    qrels = {"q1": {"json": 1}, "q2": {"files": 1}, "q3": {"re": 1}}
    result = run(engine, queries, qrels, {"bm25": [{}], "auto": [{}]})
    (auto,) = [r for r in result["rows"] if r["mode"] == "auto"]
    expected = sum(engine.routes_to_bm25(text) for _, text in queries) / len(queries)
    assert auto["routed_bm25"] == pytest.approx(expected) and 0 < expected < 1  # q3 matches nothing: hybrid
    assert "routed_bm25" not in result["rows"][0]
    routed = evaluate(engine, queries, qrels, mode="auto")["routed"]
    assert routed == {"bm25": pytest.approx(expected), "hybrid": pytest.approx(1 - expected)}
