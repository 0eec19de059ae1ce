"""Plain value types that flow between components."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass(frozen=True)
class Document:
    """One corpus record as read from a corpus source."""

    id: str
    text: str
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned piece of a document; the unit that is indexed and retrieved.

    ``id`` is stable across rebuilds of the same document (``"<doc_id>#<ordinal>"``).
    ``start``/``end`` are character offsets into the document text.
    """

    id: str
    doc_id: str
    ordinal: int
    text: str
    title: str
    start: int
    end: int
    n_tokens: int


@dataclass(frozen=True)
class Hit:
    """One search result. ``chunk`` is the chunk's row in the store (its integer id)."""

    chunk: int
    id: str
    doc_id: str
    score: float
    text: str
    title: str = ""


@dataclass(frozen=True)
class StageTimings:
    """Milliseconds spent in each stage of one request, in the order they ran."""

    stages: Mapping[str, float]

    @property
    def total_ms(self) -> float:
        return float(sum(self.stages.values()))

    def as_dict(self) -> dict[str, float]:
        return dict(self.stages)


@dataclass(frozen=True)
class SearchResult:
    """Hits of one query, best first, and where the time went."""

    query: str
    mode: str
    hits: tuple[Hit, ...]
    timings: StageTimings
