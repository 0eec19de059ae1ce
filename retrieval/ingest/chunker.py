"""Token-aware, sentence-aligned chunking in the embedder's tokens.

Documents are split into sentences first and every sentence is counted in one batched call per
group of documents, without offset tracking (half the tokenizer's work). Because sentence
boundaries are whitespace, and whitespace is a boundary for the embedder's pre-tokenizer, a
sentence counted alone has exactly the tokens it has in place. Only a sentence longer than the
budget is tokenized again, with offsets, to be cut at token boundaries.

Packing is greedy over sentences. Budget, per chunk (``n_tokens`` excludes the special tokens):

    chunk.n_tokens = count(chunk.title if include_title else "") + count(chunk.text)
    chunk.n_tokens + counter.special_tokens <= max_tokens

which holds for the text the embedder sees when it joins title and text with whitespace.
A sentence longer than the budget is cut at token boundaries, preferring word boundaries; a
title longer than half the budget is shortened (in ``chunk.title`` too) so text always fits.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from ..config import ChunkerConfig
from ..errors import CorpusError
from ..text.sentences import split_sentences
from ..text.tokens import TokenCounter
from ..types import Chunk, Document

# Documents tokenized per encode_batch call: big enough to use all cores, small enough to
# keep memory flat on any corpus size.
BATCH_DOCS = 256
# The tokenizer holds ~1 KB per token until a call returns, so no call may see more than this
# many characters (~250k tokens), and a sentence longer than _MAX_SENTENCE_CHARS is cut at
# whitespace first: memory stays flat however long one document or one sentence is.
_CHARS_PER_CALL = 1 << 20
_MAX_SENTENCE_CHARS = 1 << 16
_WHITESPACE = re.compile(r"\s+")

_Unit = tuple[int, int, int]  # (char start, char end, tokens)


class Chunker:
    """Splits documents into chunks that fit the embedder's input (see module docstring)."""

    def __init__(self, config: ChunkerConfig | None = None, counter: TokenCounter | None = None) -> None:
        self.config = config if config is not None else ChunkerConfig()
        self.counter = counter if counter is not None else TokenCounter()
        # Tokens left for title + text once the model's [CLS]/[SEP] are in.
        self.budget = self.config.max_tokens - self.counter.special_tokens

    def chunk(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, ordinals from 0."""
        return list(self.chunk_many([doc]))

    def chunk_many(self, docs: Iterable[Document]) -> Iterator[Chunk]:
        """Chunks of every document, in document order; tokenizes ``BATCH_DOCS`` at a time."""
        batch: list[Document] = []
        for doc in docs:
            batch.append(doc)
            if len(batch) == BATCH_DOCS:
                yield from self._chunk_batch(batch)
                batch = []
        if batch:
            yield from self._chunk_batch(batch)

    def _chunk_batch(self, docs: list[Document]) -> Iterator[Chunk]:
        for doc in docs:
            self._check_size(doc)
        spans = [_bounded_spans(d.text, split_sentences(d.text)) for d in docs]
        sentences = [d.text[a:b] for d, doc_spans in zip(docs, spans) for a, b in doc_spans]
        titles = [d.title for d in docs] if self.config.include_title else []
        # Batched calls for every sentence and title keep both cores busy.
        counts = _count_bounded(self.counter, sentences + titles)
        title_counts = counts[len(sentences) :] if titles else [0] * len(docs)
        at = 0
        for doc, doc_spans, n_title in zip(docs, spans, title_counts):
            sizes = counts[at : at + len(doc_spans)]
            at += len(doc_spans)
            yield from self._chunk_doc(doc, doc_spans, sizes, n_title)

    def _check_size(self, doc: Document) -> None:
        size = len(doc.text) + len(doc.title)
        limit = self.config.max_document_chars
        if size > limit:
            raise CorpusError(
                f"document {doc.id!r} has {size:,} characters, over the limit of {limit:,} "
                f"(chunker.max_document_chars): split it, or raise the limit with --set chunker.max_document_chars=N"
            )

    def _chunk_doc(self, doc: Document, spans: list[tuple[int, int]], sizes: list[int], n_title: int) -> Iterator[Chunk]:
        text, title = doc.text, doc.title
        if n_title > self.budget // 2:
            title, n_title = self._shorten_title(title)
        make = _ChunkFactory(doc, title, n_title)
        if not spans:
            if title.strip():
                yield make(0, 0, 0)
            return
        room = self.budget - n_title  # >= budget/2 >= 3 tokens for text
        if sum(sizes) <= room:  # fast path: the whole text is one chunk
            yield make(spans[0][0], spans[-1][1], sum(sizes))
            return
        units = self._units(text, spans, sizes, room)
        for a, b in _pack(units, room, self.config.overlap_sentences):
            yield make(units[a][0], units[b - 1][1], sum(u[2] for u in units[a:b]))

    def _units(self, text: str, spans: list[tuple[int, int]], sizes: list[int], room: int) -> list[_Unit]:
        """Sentences with their token counts; sentences over ``room`` cut into pieces."""
        units: list[_Unit] = []
        for (s, e), n in zip(spans, sizes):
            if n <= room:
                units.append((s, e, n))
                continue
            enc = self.counter.encode_many([text[s:e]])[0]  # rare: offsets only where needed
            starts = [s + start for start, _ in enc.offsets]
            units.extend(self._pieces(text, s, e, 0, len(starts), starts, enc.word_ids, room))
        return units

    def _pieces(
        self, text: str, s: int, e: int, t0: int, t1: int, starts: list[int], word_ids: list[Any], room: int
    ) -> list[_Unit]:
        """Cut the sentence ``text[s:e]`` (tokens ``t0:t1``) into pieces of <= ``room`` tokens.

        Cuts go at the last word start that fits, so a piece tokenizes alone exactly as it did in
        place. Only a single word longer than ``room`` is cut inside; such a fragment is counted by
        tokenizing it alone (a rare path), shrinking it until it fits.
        """
        pieces: list[_Unit] = []
        pos, char = t0, s
        while pos < t1:
            cut = min(pos + room, t1)
            if cut < t1:
                j = cut
                while j > pos and word_ids[j] == word_ids[j - 1]:
                    j -= 1
                if j > pos:
                    cut = j
            n = cut - pos
            end = _rstrip_end(text, char, starts[cut] if cut < t1 else e)
            split_word = (pos > t0 and word_ids[pos] == word_ids[pos - 1]) or (
                cut < t1 and word_ids[cut] == word_ids[cut - 1]
            )
            if split_word:
                n = self.counter.count(text[char:end])
                while n > room and cut - pos > 1:
                    cut -= 1
                    end = _rstrip_end(text, char, starts[cut])
                    n = self.counter.count(text[char:end])
            pieces.append((char, end, n))
            pos, char = cut, (starts[cut] if cut < t1 else e)
        return pieces

    def _shorten_title(self, title: str) -> tuple[str, int]:
        """Shorten a title to at most half the budget, cutting at a token start."""
        limit = self.budget // 2
        enc = self.counter.encode_many([title])[0]
        cut = limit
        while cut > 0:
            short = title[: enc.offsets[cut][0]].rstrip()
            n = self.counter.count(short)
            if n <= limit:
                return short, n
            cut -= 1
        return "", 0


class _ChunkFactory:
    """Builds the chunks of one document with consecutive ordinals."""

    def __init__(self, doc: Document, title: str, n_title: int) -> None:
        self.doc, self.title, self.n_title, self.ordinal = doc, title, n_title, 0

    def __call__(self, start: int, end: int, n_text: int) -> Chunk:
        doc = self.doc
        chunk = Chunk(
            id=f"{doc.id}#{self.ordinal}",
            doc_id=doc.id,
            ordinal=self.ordinal,
            text=doc.text[start:end],
            title=self.title,
            start=start,
            end=end,
            n_tokens=self.n_title + n_text,
        )
        self.ordinal += 1
        return chunk


def _count_bounded(counter: TokenCounter, texts: list[str]) -> list[int]:
    """``counter.count_many(texts)`` in calls of at most ``_CHARS_PER_CALL`` characters each."""
    counts: list[int] = []
    group: list[str] = []
    size = 0
    for text in texts:
        if group and size + len(text) > _CHARS_PER_CALL:
            counts.extend(counter.count_many(group))
            group, size = [], 0
        group.append(text)
        size += len(text)
    counts.extend(counter.count_many(group))
    return counts


def _bounded_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spans`` with every span over ``_MAX_SENTENCE_CHARS`` cut at its last whitespace that fits
    (exact: whitespace is a token boundary), or hard at the limit where a window has none."""
    if all(e - s <= _MAX_SENTENCE_CHARS for s, e in spans):
        return spans
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while e - s > _MAX_SENTENCE_CHARS:
            limit = s + _MAX_SENTENCE_CHARS
            gap = None
            for gap in _WHITESPACE.finditer(text, s + _MAX_SENTENCE_CHARS // 2, limit + 1):
                pass
            if gap is None:
                out.append((s, limit))
                s = limit
            else:
                out.append((s, gap.start()))
                s = gap.end()
                while s < e and text[s].isspace():  # a run of whitespace longer than the window
                    s += 1
        if e > s:
            out.append((s, e))
    return out


def _rstrip_end(text: str, start: int, end: int) -> int:
    """``end`` moved left past whitespace, not before ``start``."""
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _pack(units: list[_Unit], room: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Greedy packing: yields unit ranges ``[a, b)`` whose token sum is <= ``room``.

    Each range after the first starts with up to ``overlap`` units of the previous one, fewer if
    they would leave no room for a new unit, and never at or before the previous start, so every
    range adds at least one new unit and the loop always ends.
    """
    a = b = 0
    n = len(units)
    while b < n:
        if b > 0:
            a = max(b - overlap, a + 1)
        used = sum(u[2] for u in units[a:b])
        while a < b and used + units[b][2] > room:
            used -= units[a][2]
            a += 1
        while b < n and used + units[b][2] <= room:
            used += units[b][2]
            b += 1
        yield a, b
