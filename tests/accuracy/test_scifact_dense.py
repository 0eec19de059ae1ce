"""Dense, hybrid and prefilter quality on SciFact (a full dense bundle: minutes to embed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import Engine, IndexConfig
from retrieval.bench.quality import evaluate
from retrieval.ingest import read_qrels, read_queries


@pytest.fixture(scope="module")
def scifact_dense(scifact_dir: Path, tmp_path_factory) -> Engine:
    # Retrieval quality only: the sentence index (for the context compressor) would add minutes.
    config = IndexConfig.from_dict({"sentences": False})
    return Engine.build(scifact_dir, tmp_path_factory.mktemp("scifact-dense") / "bundle", config)


# Floors sit just under the measured values (recorded beside each) so a real regression fails.
@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, floor",
    [
        ("dense", 0.655),  # measured 0.6613 (MTEB's all-MiniLM-L6-v2, whole docs: 0.645)
        ("hybrid", 0.715),  # measured 0.7227 (min-max convex, alpha 0.5)
        ("prefilter", 0.655),  # measured 0.6636
    ],
)
def test_scifact_ndcg_by_mode(scifact_dense: Engine, scifact_dir: Path, mode: str, floor: float):
    result = evaluate(
        scifact_dense,
        read_queries(scifact_dir / "queries.jsonl"),
        read_qrels(scifact_dir / "qrels" / "test.tsv"),
        mode=mode,
        k=100,
    )
    assert result["queries"] == 300
    assert result["ndcg@10"] >= floor
