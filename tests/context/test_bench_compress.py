"""`bench compress` on a tiny SQuAD-format file: keys, figures in range, cached bundle, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.bench import compress
from retrieval.errors import ConfigError, CorpusError

PARAGRAPHS = {
    "Solar_System": [
        ("The Sun is a star at the centre of the Solar System. It holds 99.86 percent of the system's mass. "
         "Jupiter is the largest planet. Saturn has the most visible rings. Mercury is closest to the Sun.",
         [("What is the largest planet?", "Jupiter"), ("Which planet is closest to the Sun?", "Mercury")]),
        ("Mars is called the Red Planet. Iron oxide on its surface gives it a reddish colour. Olympus Mons on Mars "
         "is the tallest volcano known. Mars has two small moons, Phobos and Deimos.",
         [("What gives Mars its red colour?", "Iron oxide"), ("What are the moons of Mars?", "Phobos and Deimos")]),
    ],
    "Rivers": [
        ("The Nile flows north through eleven countries. It empties into the Mediterranean Sea. The Amazon "
         "carries more water than any other river. Its basin covers about seven million square kilometres.",
         [("Into which sea does the Nile empty?", "Mediterranean Sea"), ("Which river carries the most water?", "the Amazon")]),
        ("The Danube passes through ten countries, more than any other river. It rises in the Black Forest. "
         "Vienna, Budapest and Belgrade stand on its banks. It ends in the Black Sea.",
         [("Where does the Danube rise?", "Black Forest"), ("Where does the Danube end?", "Black Sea")]),
    ],
}


def _squad(path: Path) -> Path:
    data = {"version": "1.1", "data": [
        {"title": title, "paragraphs": [
            {"context": context, "qas": [
                {"id": f"{title}-{p}-{q}", "question": question,
                 "answers": [{"answer_start": context.find(answer), "text": answer}]}
                for q, (question, answer) in enumerate(qas)
            ]}
            for p, (context, qas) in enumerate(paragraphs)
        ]}
        for title, paragraphs in PARAGRAPHS.items()
    ]}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def squad_file(tmp_path_factory) -> Path:
    return _squad(tmp_path_factory.mktemp("squad") / "tiny-squad.json")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


def test_reports_the_contract_keys_and_sane_figures(squad_file: Path, cache_dir: Path, embedder_tokens):
    result = compress.run(squad_file, ratio=2.0, questions=8, k=3, tokenizer=embedder_tokens, cache_dir=cache_dir)
    for key in ("compression_ratio", "answer_retention", "p50_ms", "questions"):
        assert isinstance(result[key], (int, float)), key
    assert result["questions"] == 8 and 1 <= result["answerable"] <= 8
    # Per-question budgets are floor(before / 2), so every method compresses at least 2x.
    assert result["compression_ratio"] >= 2.0
    assert 0.0 <= result["answer_retention"] <= 1.0 and result["p50_ms"] > 0
    assert set(result["baselines"]) == {"truncate", "whole_chunks"}
    for baseline in result["baselines"].values():
        assert baseline["compression_ratio"] >= 2.0 and 0.0 <= baseline["answer_retention"] <= 1.0
    settings = result["settings"]
    assert settings["ratio"] == 2.0 and settings["budget_tokens"] is None and settings["k"] == 3
    assert settings["tokenizer"]["fingerprint"] == embedder_tokens.fingerprint
    assert settings["sentences"] > 8 and Path(settings["bundle"]).parent == cache_dir
    assert result["environment"]["python"]


def test_the_compressor_keeps_the_answers_that_truncation_cuts(squad_file: Path, cache_dir: Path, embedder_tokens):
    result = compress.run(squad_file, budget_tokens=30, questions=8, k=3, tokenizer=embedder_tokens, cache_dir=cache_dir)
    assert result["settings"]["budget_tokens"] == 30 and result["settings"]["ratio"] is None
    assert result["tokens_after_mean"] <= 30
    # Measured: ours 1.0 (all 8 answerable questions), truncation 0.5, whole chunks 0.0.
    assert result["answer_retention"] >= 0.85
    assert result["answer_retention"] > result["baselines"]["truncate"]["answer_retention"]
    assert result["answer_retention"] > result["baselines"]["whole_chunks"]["answer_retention"]


def test_the_bundle_is_built_once_and_reused(squad_file: Path, cache_dir: Path, embedder_tokens, monkeypatch):
    compress.run(squad_file, questions=1, tokenizer=embedder_tokens, cache_dir=cache_dir)
    from retrieval.engine import Engine

    def no_build(*args, **kwargs):
        raise AssertionError("the cached bundle should have been reused")

    monkeypatch.setattr(Engine, "build", no_build)
    assert compress.run(squad_file, questions=1, tokenizer=embedder_tokens, cache_dir=cache_dir)["questions"] == 1


def test_default_tokenizer_is_the_generators_when_installed():
    from retrieval.generation.tokenizer import GeneratorTokenizer

    assert isinstance(compress.default_tokenizer(), GeneratorTokenizer)


def test_answer_normalisation():
    assert compress.normalize("  The\u00a0Denver\n Broncos ") == "the denver broncos"
    assert compress.contains_answer("[1] X\nwon by the DENVER   Broncos.", ("Denver Broncos",))
    assert not compress.contains_answer("the 1990s", ("1980",))
    assert not compress.contains_answer("anything", ("",))


def test_bad_input_is_a_clear_error(tmp_path: Path, squad_file: Path):
    with pytest.raises(CorpusError, match="not found"):
        compress.run(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"data": [{"title": "x"}]}', encoding="utf-8")
    with pytest.raises(CorpusError, match="SQuAD v1.1 format"):
        compress.run(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(CorpusError, match="JSON"):
        compress.run(tmp_path / "broken.json")
    with pytest.raises(ConfigError, match="ratio"):
        compress.run(squad_file, ratio=0.5)
    with pytest.raises(ConfigError, match="budget_tokens"):
        compress.run(squad_file, budget_tokens=0)
    with pytest.raises(ConfigError, match="past the file"):
        compress.run(squad_file, first_question=100, cache_dir=tmp_path)


def test_latency_reports_cold_and_warm_percentiles(dense_engine, embedder_tokens):
    from .conftest import QUERIES

    result = compress.latency(dense_engine, QUERIES * 2, tokenizer=embedder_tokens, k=2, min_chunk_tokens=10, mode="bm25")
    assert result["queries"] > 5 and result["chunks"] == 2 and result["context_tokens_mean"] > 0
    assert result["cold_ms"]["p50"] > 0 and result["warm_ms"]["p50"] > 0
    none = compress.latency(dense_engine, QUERIES, tokenizer=embedder_tokens, k=2, min_chunk_tokens=10_000)
    assert none["queries"] == 0
