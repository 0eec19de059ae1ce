"""The BM25 analyzer: each step on and off, Unicode, config errors, cache vs reference."""

from __future__ import annotations

import pickle
import re
import threading
from pathlib import Path

import pytest
import Stemmer

from retrieval.config import AnalyzerConfig
from retrieval.errors import ConfigError
from retrieval.text import STOPWORDS_EN, Analyzer

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact" / "corpus.jsonl"


def _scifact_texts(n: int) -> list[str]:
    if not SCIFACT.is_file():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    import json

    texts = []
    with SCIFACT.open(encoding="utf-8") as f:
        for line, _ in zip(f, range(n)):
            obj = json.loads(line)
            texts.append(obj["title"] + " " + obj["text"])
    return texts


def test_default_pipeline_lowercases_drops_stopwords_and_stems() -> None:
    a = Analyzer(AnalyzerConfig())
    assert a("The Running dogs are running quickly, a b") == ["run", "dog", "run", "quick"]


def test_lowercase_off_keeps_case_but_stopwords_still_match() -> None:
    a = Analyzer(AnalyzerConfig(lowercase=False))
    # "The" is dropped (stopwords match the lowercased word); Snowball leaves uppercase alone.
    assert a("The Running RUNNING running") == ["Run", "RUNNING", "run"]


def test_stopwords_off_keeps_them() -> None:
    a = Analyzer(AnalyzerConfig(stopwords=None))
    assert a("the dogs of war") == ["the", "dog", "of", "war"]


def test_custom_stopword_list_replaces_builtin_and_applies_before_stemming() -> None:
    a = Analyzer(AnalyzerConfig(stopwords=("Dogs", "war")))
    # "the" is no longer a stopword; "dogs" is removed case-insensitively; "dog" is not in the list.
    assert a("the dogs of war dog") == ["the", "of", "dog"]


def test_stopword_list_from_json_roundtrip_list_becomes_tuple() -> None:
    cfg = AnalyzerConfig(stopwords=["foo"])  # type: ignore[arg-type]
    assert Analyzer(cfg)("foo bar") == ["bar"]


def test_stemmer_off_keeps_words() -> None:
    a = Analyzer(AnalyzerConfig(stemmer=None))
    assert a("The running dogs") == ["running", "dogs"]


def test_every_step_off_is_a_plain_split() -> None:
    a = Analyzer(AnalyzerConfig(lowercase=False, stopwords=None, stemmer=None))
    assert a("The Running, dogs: a b 42") == ["The", "Running", "dogs", "42"]


def test_custom_token_pattern_keeps_single_characters() -> None:
    a = Analyzer(AnalyzerConfig(token_pattern=r"\w+", stopwords=None, stemmer=None))
    assert a("a b c-d") == ["a", "b", "c", "d"]


def test_pattern_that_matches_empty_strings_yields_no_empty_terms() -> None:
    a = Analyzer(AnalyzerConfig(token_pattern=r"\w*", stopwords=None, stemmer=None))
    assert a("ab  cd") == ["ab", "cd"]
    b = Analyzer(AnalyzerConfig(token_pattern=r"\w*"))
    assert b("ab  cd") == ["ab", "cd"]


def test_unicode_words() -> None:
    text = "Café naïve Straße 東京"
    assert Analyzer(AnalyzerConfig(stemmer=None))(text) == ["café", "naïve", "straße", "東京"]
    assert Analyzer(AnalyzerConfig())(text) == ["café", "naïv", "straße", "東京"]


def test_unknown_stemmer_lists_available_algorithms() -> None:
    with pytest.raises(ConfigError) as err:
        Analyzer(AnalyzerConfig(stemmer="klingon"))
    message = str(err.value)
    assert "klingon" in message
    for name in Stemmer.algorithms():
        assert name in message


def test_unknown_stopword_list_name() -> None:
    with pytest.raises(ConfigError, match="'xx'"):
        Analyzer(AnalyzerConfig(stopwords="xx"))


def test_invalid_token_pattern() -> None:
    with pytest.raises(ConfigError, match="token_pattern"):
        Analyzer(AnalyzerConfig(token_pattern="(unclosed"))


def test_builtin_english_list_is_bm25s_list() -> None:
    from bm25s.stopwords import STOPWORDS_EN as BM25S_EN

    assert tuple(STOPWORDS_EN) == tuple(BM25S_EN)


def test_cached_output_equals_uncached_reference_on_real_text() -> None:
    texts = _scifact_texts(300)
    stemmer = Stemmer.Stemmer("english")
    stop = set(STOPWORDS_EN)
    pattern = re.compile(AnalyzerConfig().token_pattern)

    def reference(text: str) -> list[str]:
        return [stemmer.stemWord(w) for w in pattern.findall(text.lower()) if w not in stop]

    a = Analyzer(AnalyzerConfig())
    cold = a.analyze_many(texts)
    warm = a.analyze_many(texts)  # every word now comes from the cache
    expected = [reference(t) for t in texts]
    assert cold == expected
    assert warm == expected
    assert all(a.uncached(w) == (stemmer.stemWord(w) if w not in stop else "") for w in ("the", "running", "cells"))


def test_matches_bm25s_tokenizer_on_real_text() -> None:
    import bm25s

    texts = _scifact_texts(300)
    stemmer = Stemmer.Stemmer("english")
    theirs = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    assert Analyzer(AnalyzerConfig()).analyze_many(texts) == [list(t) for t in theirs]


def test_pickle_roundtrip_rebuilds_from_config() -> None:
    a = Analyzer(AnalyzerConfig(stopwords=("foo",)))
    a("warm the cache")
    b = pickle.loads(pickle.dumps(a))
    assert b.config == a.config
    assert b("foo running dogs") == a("foo running dogs") == ["run", "dog"]


def test_concurrent_use_gives_sequential_results() -> None:
    texts = [f"running dogs number{i} cells{i % 7} studies {i}" for i in range(400)]
    expected = Analyzer()(" ".join(texts))
    shared = Analyzer()
    results: dict[int, list[list[str]]] = {}

    def work(k: int) -> None:
        results[k] = [shared(t) for t in texts]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert [w for terms in results[k] for w in terms] == expected


def test_describe_for_manifest() -> None:
    d = Analyzer(AnalyzerConfig()).describe()
    assert d["stopwords"] == "en" and d["stopword_count"] == len(STOPWORDS_EN) == 33
    assert d["stemmer"] == "english" and d["pystemmer_version"]
    assert d["lowercase"] is True and d["token_pattern"] == AnalyzerConfig().token_pattern
    custom = Analyzer(AnalyzerConfig(stopwords=("a", "b"), stemmer=None)).describe()
    assert custom["stopwords"] == ["a", "b"] and custom["stopword_count"] == 2
    assert custom["pystemmer_version"] is None
