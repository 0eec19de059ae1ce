"""What a build can index: a path, ``"demo"``, any iterable of ``Document``s, or a document source.

A *source* (``DocumentSource``) is an iterable that also says where its documents come from and,
after it has been read, what ``retrieval sync`` needs to follow it: ``PostgresCorpus`` is one. A
build records both in the manifest (``source`` and ``sync``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol, runtime_checkable

from ..types import Document


@runtime_checkable
class DocumentSource(Protocol):
    def __iter__(self) -> Iterator[Document]:
        """The documents, read anew on each iteration."""
        ...

    def describe(self) -> str:
        """Where the documents come from, without secrets (the manifest's ``source``)."""
        ...

    def sync_section(self) -> dict[str, Any] | None:
        """After iterating: the manifest's ``sync`` section (what a later sync starts from), or None."""
        ...


Corpus = str | Path | Iterable[Document] | DocumentSource


def describe(corpus: Corpus) -> str:
    """The manifest's ``source``: a path as given, a source's own description, else a placeholder."""
    if isinstance(corpus, DocumentSource):
        return str(corpus.describe())
    return str(corpus) if isinstance(corpus, (str, Path)) else "<documents>"


def sync_section(corpus: Corpus) -> dict[str, Any] | None:
    return corpus.sync_section() if isinstance(corpus, DocumentSource) else None
