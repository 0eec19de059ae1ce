"""Sentence-aligned, token-budgeted chunking.

Invariant checked against an independent count (the documented one, in chunker.py):
    chunk.n_tokens == count(chunk.title if include_title else "") + count(chunk.text)
    chunk.n_tokens + special_tokens <= max_tokens
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import retrieval.ingest.chunker as chunker_module
from retrieval.config import ChunkerConfig
from retrieval.ingest import Chunker
from retrieval.text import TokenCounter, split_sentences
from retrieval.types import Chunk, Document

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact" / "corpus.jsonl"
WORDS = (
    "cell protein gene the of analysis expression mice tumour significant data patients increased"
    " immunohistochemistry cardiomyocytes hyperparameterization"  # several tokens each
).split()


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


def make_text(rng: random.Random, n_sentences: int, words: tuple[int, int] = (3, 25)) -> str:
    sentences = []
    for _ in range(n_sentences):
        ws = [rng.choice(WORDS) for _ in range(rng.randint(*words))]
        sentences.append(" ".join(ws).capitalize() + rng.choice([".", "!", "?"]))
    return " ".join(sentences)


def check(doc: Document, chunks: list[Chunk], config: ChunkerConfig, counter: TokenCounter) -> None:
    """Every per-chunk invariant, with token counts recomputed independently."""
    for i, c in enumerate(chunks):
        assert (c.id, c.doc_id, c.ordinal) == (f"{doc.id}#{i}", doc.id, i)
        assert c.text == doc.text[c.start : c.end]
        assert c.text == c.text.strip()
        title_tokens = counter.count(c.title) if config.include_title else 0
        assert c.n_tokens == title_tokens + counter.count(c.text)
        assert c.n_tokens + counter.special_tokens <= config.max_tokens
        assert doc.title.startswith(c.title)


def check_coverage(doc: Document, chunks: list[Chunk]) -> None:
    """Without overlap, chunks are in order, disjoint, and hold every non-space character."""
    prev_end = 0
    for c in chunks:
        assert c.start >= prev_end and (c.end > c.start or (not doc.text.strip() and len(chunks) == 1))
        assert doc.text[prev_end : c.start].strip() == ""
        prev_end = c.end
    assert doc.text[prev_end:].strip() == ""


def test_short_document_is_one_chunk(counter: TokenCounter) -> None:
    doc = Document(id="d", text="  Short text. Two sentences.\n", title="A title")
    (chunk,) = Chunker(ChunkerConfig(), counter).chunk(doc)
    assert chunk == Chunk(
        id="d#0", doc_id="d", ordinal=0, text="Short text. Two sentences.", title="A title",
        start=2, end=28, n_tokens=counter.count("A title") + counter.count("Short text. Two sentences."),
    )


@pytest.mark.parametrize("include_title", [True, False])
@pytest.mark.parametrize("max_tokens", [8, 24, 64, 256])
def test_budget_and_sentence_alignment(counter: TokenCounter, max_tokens: int, include_title: bool) -> None:
    rng = random.Random(max_tokens)
    config = ChunkerConfig(max_tokens=max_tokens, include_title=include_title)
    chunker = Chunker(config, counter)
    for k in range(20):
        doc = Document(id=f"doc{k}", text=make_text(rng, rng.randint(1, 30)), title="Gene expression in mice")
        chunks = chunker.chunk(doc)
        check(doc, chunks, config, counter)
        check_coverage(doc, chunks)
        room = chunker.budget - (counter.count(chunks[0].title) if include_title else 0)
        sentences = split_sentences(doc.text)
        starts = {s for s, _ in sentences}
        ends = {e for _, e in sentences}
        for c in chunks:
            # Chunk edges fall on sentence edges, except inside a sentence too long for one chunk.
            inside = [(s, e) for s, e in sentences if s < c.start < e or s < c.end < e]
            assert (c.start in starts and c.end in ends) or all(counter.count(doc.text[s:e]) > room for s, e in inside)


def test_greedy_packing_fills_chunks(counter: TokenCounter) -> None:
    rng = random.Random(7)
    config = ChunkerConfig(max_tokens=64)
    chunker = Chunker(config, counter)
    doc = Document(id="d", text=make_text(rng, 40, words=(3, 8)))
    chunks = chunker.chunk(doc)
    sentences = split_sentences(doc.text)
    for c, nxt in zip(chunks, chunks[1:]):
        # The next chunk's first sentence would not have fitted into this one.
        first = next(s for s in sentences if s[0] == nxt.start)
        assert c.n_tokens + counter.count(doc.text[first[0] : first[1]]) > chunker.budget


def test_overlap_repeats_previous_sentences(counter: TokenCounter) -> None:
    rng = random.Random(11)
    config = ChunkerConfig(max_tokens=48, overlap_sentences=1, include_title=False)
    doc = Document(id="d", text=make_text(rng, 30, words=(3, 8)))
    chunks = Chunker(config, counter).chunk(doc)
    check(doc, chunks, config, counter)
    assert len(chunks) > 3
    sentences = split_sentences(doc.text)
    for prev, nxt in zip(chunks, chunks[1:]):
        assert prev.start < nxt.start and prev.end < nxt.end  # always progress
        prev_sentences = [s for s in sentences if prev.start <= s[0] and s[1] <= prev.end]
        if len(prev_sentences) > 1:
            assert nxt.start == prev_sentences[-1][0]
    # Every sentence is in some chunk.
    assert all(any(c.start <= s and e <= c.end for c in chunks) for s, e in sentences)


def test_overlap_never_loops_when_one_sentence_fills_a_chunk(counter: TokenCounter) -> None:
    config = ChunkerConfig(max_tokens=16, overlap_sentences=5, include_title=False)
    sentence = "Cell protein gene analysis expression mice tumour data."
    doc = Document(id="d", text=" ".join([sentence] * 6))
    chunks = Chunker(config, counter).chunk(doc)
    check(doc, chunks, config, counter)
    assert [c.text for c in chunks] == [sentence] * 6


def test_long_sentence_is_split_at_word_boundaries(counter: TokenCounter) -> None:
    rng = random.Random(3)
    words = [rng.choice(WORDS) for _ in range(300)]
    doc = Document(id="d", text="Short one. " + " ".join(words) + ". After it.", title="T")
    config = ChunkerConfig(max_tokens=32)
    chunks = Chunker(config, counter).chunk(doc)
    check(doc, chunks, config, counter)
    check_coverage(doc, chunks)
    assert len(chunks) >= 300 // 30
    vocabulary = set(WORDS) | {"Short", "one.", "After", "it."}
    for c in chunks:
        assert all(w.rstrip(".") in vocabulary or w in vocabulary for w in c.text.split())
    assert " ".join(c.text for c in chunks).split() == doc.text.split()


# Words of 8+ tokens whose pieces tokenize differently alone ("##ization" vs "i ##zation").
LONG_WORDS = [
    "antidisestablishmentarianismhydroxychloroquinepneumonoultramicroscopicsilicovolcano",
    "phosphatidylinositol",
    "supercalifragilisticexpialidocious",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
]


@pytest.mark.parametrize("max_tokens", [8, 9, 10, 11, 12])
def test_single_word_longer_than_budget_is_cut_inside(counter: TokenCounter, max_tokens: int) -> None:
    assert all(counter.count(w) > 6 and len(w) < 100 for w in LONG_WORDS)  # 100+ chars: one [UNK]
    doc = Document(id="d", text="Before. " + " ".join(LONG_WORDS) + " after.")
    config = ChunkerConfig(max_tokens=max_tokens, include_title=False)
    chunks = Chunker(config, counter).chunk(doc)
    check(doc, chunks, config, counter)
    check_coverage(doc, chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == doc.text.replace(" ", "")


def test_long_title_is_shortened_to_half_the_budget(counter: TokenCounter) -> None:
    title = " ".join(["interleukin receptor signalling"] * 40)
    doc = Document(id="d", text="Body text. " * 20, title=title)
    config = ChunkerConfig(max_tokens=32)
    chunks = Chunker(config, counter).chunk(doc)
    check(doc, chunks, config, counter)
    assert chunks[0].title and counter.count(chunks[0].title) <= (32 - 2) // 2
    assert len({c.title for c in chunks}) == 1


def test_empty_text_with_title_and_empty_document(counter: TokenCounter) -> None:
    chunker = Chunker(ChunkerConfig(), counter)
    (chunk,) = chunker.chunk(Document(id="t", text=" \n ", title="Only a title"))
    assert (chunk.id, chunk.text, chunk.title, chunk.start, chunk.end) == ("t#0", "", "Only a title", 0, 0)
    assert chunk.n_tokens == counter.count("Only a title")
    assert chunker.chunk(Document(id="e", text="", title="")) == []
    assert chunker.chunk(Document(id="w", text="  ", title=" ")) == []


def test_ids_are_stable_and_batching_does_not_change_results(
    counter: TokenCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(5)
    docs = [Document(id=f"d{i}", text=make_text(rng, rng.randint(0, 12)), title=f"T{i}") for i in range(10)]
    config = ChunkerConfig(max_tokens=40, overlap_sentences=1)
    one_by_one = [c for d in docs for c in Chunker(config, counter).chunk(d)]
    monkeypatch.setattr(chunker_module, "BATCH_DOCS", 3)
    batched = list(Chunker(config, counter).chunk_many(iter(docs)))
    assert batched == one_by_one
    assert list(Chunker(config, counter).chunk_many(docs)) == batched  # a second run: same ids and spans


_TOKENS = st.sampled_from(WORDS + ["e.g.", "3.5", "Dr.", "(Fig. 2)", "naïve", "東京", "x" * 30])
_SENTENCE = st.lists(_TOKENS, min_size=1, max_size=40)


@settings(derandomize=True, database=None, max_examples=60, deadline=None)
@given(
    sentences=st.lists(_SENTENCE.map(lambda ws: " ".join(ws).capitalize() + "."), max_size=25),
    seps=st.sampled_from([" ", "\n", "\n\n", "  "]),
    max_tokens=st.integers(8, 80),
    overlap=st.integers(0, 2),
    title=st.sampled_from(["", "A title", "Gene expression in naïve mice (東京)"]),
)
def test_property_budget_coverage(
    counter: TokenCounter, sentences: list[str], seps: str, max_tokens: int, overlap: int, title: str
) -> None:
    doc = Document(id="p", text=seps.join(sentences), title=title)
    config = ChunkerConfig(max_tokens=max_tokens, overlap_sentences=overlap)
    chunks = Chunker(config, counter).chunk(doc)
    check(doc, chunks, config, counter)
    if overlap == 0:
        check_coverage(doc, chunks)
    else:  # every non-space character is in at least one chunk
        covered = set()
        for c in chunks:
            covered.update(range(c.start, c.end))
        assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())
    assert bool(chunks) == bool(doc.text.strip() or title.strip())


def test_real_scifact_first_200_documents(counter: TokenCounter) -> None:
    if not SCIFACT.is_file():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    docs = []
    with SCIFACT.open(encoding="utf-8") as f:
        for line, _ in zip(f, range(200)):
            obj = json.loads(line)
            docs.append(Document(id=obj["_id"], text=obj["text"], title=obj["title"]))
    for config in (ChunkerConfig(), ChunkerConfig(max_tokens=64, overlap_sentences=1)):
        chunks = list(Chunker(config, counter).chunk_many(docs))
        by_doc: dict[str, list[Chunk]] = {}
        for c in chunks:
            by_doc.setdefault(c.doc_id, []).append(c)
        assert len(by_doc) == 200
        for doc in docs:
            check(doc, by_doc[doc.id], config, counter)
            if config.overlap_sentences == 0:
                check_coverage(doc, by_doc[doc.id])
