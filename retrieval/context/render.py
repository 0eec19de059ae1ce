"""The context format the generator reads, defined here and nowhere else.

    [1] Title of the first source
    sentence one of the first source. sentence three of the first source.

    [3] Title of the third source
    ...

A source is a header line ``[n] title`` (``[n]`` alone when the chunk has no title) followed by
its text on the next line; sources are separated by a blank line. ``n`` is the source's number
in the retrieved list (1-based) and stays that number when the compressor drops other sources,
so a citation ``[3]`` in an answer names the same chunk whether or not compression ran.
Within a source, kept sentences are joined by one space, in their original order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

SOURCE_SEPARATOR = "\n\n"
SENTENCE_SEPARATOR = " "


@dataclass(frozen=True)
class Source:
    """One cited chunk of a context: its citation and the text shown for it."""

    number: int  # [n] in the rendered context: the chunk's 1-based rank among the retrieved hits
    chunk: int  # the chunk's row in the bundle
    chunk_id: str
    doc_id: str
    title: str
    text: str  # what is shown: the whole chunk, or its kept sentences joined by a space
    sentences: tuple[tuple[int, int], ...] = ()  # kept (start, end) spans in the chunk text; () = whole chunk


def header(number: int, title: str) -> str:
    """The first line of a source, newline included."""
    title = " ".join(title.split())  # a title must stay on its header line
    return f"[{number}] {title}\n" if title else f"[{number}]\n"


def render_source(source: Source) -> str:
    return header(source.number, source.title) + source.text


def render(sources: Sequence[Source]) -> str:
    """The context string for ``sources``, in the order given."""
    return SOURCE_SEPARATOR.join(render_source(s) for s in sources)


def join_sentences(texts: Sequence[str]) -> str:
    return SENTENCE_SEPARATOR.join(texts)
