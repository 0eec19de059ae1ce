"""``retrieval eval --run-out``: the TREC run file it writes, scored by trec_eval's own code
(pytrec_eval), gives the very figures ``eval`` prints: nDCG@10, recall@100, recall@10 and MRR@10."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytrec_eval  # trec_eval's own code (pytrec-eval-terrier, in the test extra)

from retrieval.bench.quality import mrr_at_k, ndcg_at_k, recall_at_k, trec_order, write_trec_run
from retrieval.errors import CorpusError


def read_run(path: Path) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        qid, q0, doc, rank, score, tag = line.split()
        assert q0 == "Q0" and int(rank) >= 1 and tag.startswith("retrieval-")
        run.setdefault(qid, {})[doc] = float(score)
    return run


def cut(run: dict[str, dict[str, float]], k: int) -> dict[str, dict[str, float]]:
    """Each query's top k as trec_eval orders them (for recip_rank, which has no cutoff)."""
    return {q: dict(trec_order(list(docs.items()))[:k]) for q, docs in run.items()}


def trec_means(qrels: dict, run: dict, measures: set[str]) -> dict[str, float]:
    per_query = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    names = {name for scores in per_query.values() for name in scores}
    # eval averages over the judged queries; a judged query missing from the run counts 0.
    return {name: sum(per_query.get(q, {}).get(name, 0.0) for q in qrels) / len(qrels) for name in names}


@pytest.mark.parametrize("mode", ["bm25"])
def test_eval_figures_equal_trec_eval_on_the_run_file(scifact_dir: Path, tmp_path: Path, mode: str) -> None:
    cli = [sys.executable, "-m", "retrieval.cli"]
    built = subprocess.run([*cli, "index", str(scifact_dir), "--out", str(tmp_path / "b"), "--no-dense"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    run_file = tmp_path / "run.trec"
    done = subprocess.run([*cli, "eval", str(tmp_path / "b"), "--queries", str(scifact_dir / "queries.jsonl"),
                           "--qrels", str(scifact_dir / "qrels" / "test.tsv"), "--mode", mode, "--run-out", str(run_file), "--json"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours = json.loads(done.stdout)
    qrels: dict[str, dict[str, int]] = {}
    for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels.setdefault(qid, {})[doc] = int(grade)
    run = read_run(run_file)
    assert len(run) == ours["queries"] == len(qrels)
    trec = trec_means(qrels, run, {"ndcg_cut.10", "recall.10,100"})
    assert abs(ours["ndcg@10"] - trec["ndcg_cut_10"]) < 1e-9
    assert abs(ours["recall@100"] - trec["recall_100"]) < 1e-9
    assert abs(ours["recall@10"] - trec["recall_10"]) < 1e-9
    assert abs(ours["mrr@10"] - trec_means(qrels, cut(run, 10), {"recip_rank"})["recip_rank"]) < 1e-9
    assert 0.6 < ours["ndcg@10"] < 0.75 and 0 < ours["mrr@10"] <= 1


def test_tied_scores_are_read_in_trec_evals_order(tmp_path: Path) -> None:
    """Equal scores: trec_eval breaks the tie by document id, descending; so do our metrics."""
    ranked = [("a", 2.0), ("c", 1.0), ("b", 1.0), ("z", 1.0), ("d", 0.5)]
    ordered = trec_order(ranked)
    assert [d for d, _ in ordered] == ["a", "z", "c", "b", "d"]
    qrels = {"q": {"b": 2, "z": 0, "d": 1}}
    write_trec_run(tmp_path / "run.trec", {"q": ordered}, "retrieval-test")
    run = read_run(tmp_path / "run.trec")
    docs = [d for d, _ in ordered]
    trec = trec_means(qrels, run, {"ndcg_cut.3", "recall.3"})
    assert abs(ndcg_at_k(docs, qrels["q"], 3) - trec["ndcg_cut_3"]) < 1e-12
    assert abs(recall_at_k(docs, qrels["q"], 3) - trec["recall_3"]) < 1e-12
    assert mrr_at_k(docs, qrels["q"], 10) == trec_means(qrels, run, {"recip_rank"})["recip_rank"] == 1 / 4


def test_an_id_with_whitespace_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="whitespace"):
        write_trec_run(tmp_path / "run.trec", {"q 1": [("d", 1.0)]}, "t")
    assert not (tmp_path / "run.trec").exists()
