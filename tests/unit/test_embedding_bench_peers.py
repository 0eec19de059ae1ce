"""`bench embed` internals: the text source and a tiny end-to-end run of the peer comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.bench.embed_peers import run, texts_from
from retrieval.embedding import EmbeddingInputError
from retrieval.errors import ConfigError

REQUIRED = {"st_per_s", "onnx_fp32_per_s", "onnx_int8_per_s", "cos_min_fp32", "cos_min_int8"}


def test_texts_from_joins_title_and_text_and_limits(small_corpus: Path) -> None:
    texts = texts_from(small_corpus)
    assert texts[0] == "Python Python is a programming language. It has a large standard library."
    assert texts[-1] == ""  # no title, empty text
    assert texts_from(small_corpus, limit=2) == texts[:2]


def test_bad_arguments() -> None:
    with pytest.raises(EmbeddingInputError):
        run([])
    with pytest.raises(ConfigError):
        run(["x"], batch_sizes=(0,))


@pytest.mark.slow
def test_tiny_run_has_the_contract_keys(small_corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = texts_from(small_corpus) * 3 + ["word " * 300]
    messages: list[str] = []
    result = run(texts, threads=1, batch_sizes=(4, 8), progress=messages.append)
    assert REQUIRED <= set(result)
    assert all(result[k] > 0 for k in ("st_per_s", "onnx_fp32_per_s", "onnx_int8_per_s"))
    assert result["cos_min_fp32"] >= 0.9999 and result["cos_min_int8"] >= 0.9
    assert set(result["sweep_per_s"]["onnx_fp32"]) == {"4", "8"}
    assert result["best_batch"]["st"] in (4, 8)
    assert result["texts"] == len(texts) and result["truncated"] == 1
    assert 0 < result["tokenizer_share_fp32"] < 1
    assert result["machine"]["onnxruntime"] and result["model"]["variant"] == "fp32"
    assert any("onnx_int8 batch 8" in m for m in messages)
