"""One huge document costs bounded memory, and one over the size limit is refused (issue 12, item 7).

The tokenizer keeps ~1 KB per token until a call returns, so memory is bounded by bounding what
one call sees; the test records every call the chunker makes.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import retrieval.ingest.chunker as chunker_module
from retrieval.config import ChunkerConfig, IndexConfig
from retrieval.errors import CorpusError
from retrieval.ingest import Chunker
from retrieval.text import TokenCounter
from retrieval.types import Document
from tests.cli.test_cli import assert_one_line_error, run
from tests.conftest import SMALL_CORPUS, write_jsonl
from tests.unit.test_chunker import WORDS, check, make_text


class RecordingCounter(TokenCounter):
    """A real counter that remembers the characters each tokenizer call was given."""

    calls: list[int]

    def count_many(self, texts):
        self.calls.append(sum(len(t) for t in texts))
        return super().count_many(texts)

    def encode_many(self, texts):
        self.calls.append(sum(len(t) for t in texts))
        return super().encode_many(texts)


@pytest.fixture()
def counter() -> RecordingCounter:
    recording = RecordingCounter()
    recording.calls = []
    return recording


def test_every_tokenizer_call_is_bounded_on_a_huge_document(counter: RecordingCounter):
    rng = random.Random(7)
    prose = make_text(rng, 9_000)  # ~1.3 MB of sentences
    run_on = " ".join(rng.choice(WORDS) for _ in range(40_000))  # one ~0.4 MB sentence
    doc = Document(id="huge", title="Huge", text=prose + " " + run_on.capitalize() + ".")
    assert len(doc.text) > chunker_module._CHARS_PER_CALL
    config = ChunkerConfig(max_tokens=128)
    chunks = Chunker(config, counter).chunk(doc)
    assert max(counter.calls) <= chunker_module._CHARS_PER_CALL
    check(doc, chunks, config, TokenCounter())
    assert chunks[-1].end == len(doc.text)
    for before, after in zip(chunks, chunks[1:]):  # the chunks cover the text, gaps are whitespace
        assert after.start >= before.end and not doc.text[before.end : after.start].strip()


def test_a_sentence_without_whitespace_is_cut_hard(counter: RecordingCounter):
    text = "x" * (3 * chunker_module._MAX_SENTENCE_CHARS + 5)
    doc = Document(id="blob", text=text)
    chunks = Chunker(ChunkerConfig(), counter).chunk(doc)
    assert max(counter.calls) <= chunker_module._CHARS_PER_CALL
    assert "".join(c.text for c in chunks) == text  # nothing lost, nothing repeated


def test_long_sentence_spans_are_cut_at_whitespace():
    limit = chunker_module._MAX_SENTENCE_CHARS
    text = ("word " * (limit // 2)).strip()
    spans = chunker_module._bounded_spans(text, [(0, len(text))])
    assert all(e - s <= limit for s, e in spans)
    assert all(text[s:e] == text[s:e].strip() and text[s:e].startswith("word") for s, e in spans)
    assert " ".join(text[s:e] for s, e in spans) == text
    short = [(0, 4), (5, 9)]
    assert chunker_module._bounded_spans("word word", short) is short


def test_a_document_over_the_limit_is_refused():
    chunker = Chunker(ChunkerConfig(max_document_chars=100))
    chunker.chunk(Document(id="ok", text="a" * 99))
    with pytest.raises(CorpusError, match=r"document 'big' has 101 characters, over the limit of 100 \(chunker.max_document_chars\)"):
        chunker.chunk(Document(id="big", title="t", text="a" * 100))


def test_cli_refuses_an_oversized_document_and_writes_nothing(tmp_path: Path):
    rows = [*SMALL_CORPUS, {"_id": "big", "title": "", "text": "word " * 1_000}]
    corpus = write_jsonl(tmp_path / "c.jsonl", rows)
    out = tmp_path / "bundle"
    proc = run("index", str(corpus), "--out", str(out), "--no-dense", "--set", "chunker.max_document_chars=2000")
    assert_one_line_error(proc, "document 'big' has")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_the_limit_is_a_validated_config_value():
    assert IndexConfig.from_dict({}).chunker.max_document_chars == 10_000_000
    with pytest.raises(Exception, match="max_document_chars"):
        IndexConfig.from_dict({"chunker": {"max_document_chars": 0}})
