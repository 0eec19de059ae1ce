"""A corpus split into parts that Ray workers read themselves, in corpus order.

    JSONL (and a BEIR directory's corpus.jsonl)   byte ranges cut at line starts; each part knows
                                                  its first line's number (errors name the line)
    Parquet                                       runs of row groups; each part knows its first row
    a PostgreSQL query                            id ranges (``postgres_parts``), in id order
    anything else (Documents, "demo")             read here, shipped in blocks of documents

A part is a plain dict (a Ray Data row); ``read_part`` yields its documents. Concatenated in part
order, the parts' documents are the corpus's, in the order the in-process build reads them.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..types import Document

PART_BYTES = 4 << 20  # a JSONL part's size at least (a task per few MB amortizes its start)
DOCS_PER_BLOCK = 2048  # documents per shipped block


def plan_parts(corpus: Any, max_parts: int, part_bytes: int = PART_BYTES) -> tuple[list[dict[str, Any]], Any]:
    """The parts of ``corpus`` (a path, a ``PostgresCorpus``, ``"demo"`` or Documents; at most
    ``max_parts`` for files and queries) and its manifest ``sync`` section."""
    from ..ingest.corpus import sync_section
    from ..ingest.postgres_reader import PostgresCorpus
    from ..ingest.readers import corpus_file

    if isinstance(corpus, PostgresCorpus):
        from .postgres_parts import postgres_parts

        return postgres_parts(corpus, max_parts)
    if isinstance(corpus, (str, Path)) and str(corpus) != "demo":
        path = corpus_file(corpus)
        if path.suffix.lower() == ".parquet":
            return _parquet_parts(path, max_parts), None
        return _jsonl_parts(path, max_parts, part_bytes), None
    parts = list(_document_blocks(_documents(corpus)))
    return parts, sync_section(corpus)  # after reading: what the corpus recorded while read


def read_part(part: dict[str, Any]) -> Iterator[Document]:
    from ..ingest import readers

    kind = part["kind"]
    if kind == "jsonl":
        return readers.read_jsonl_range(Path(part["path"]), part["start"], part["end"], part["first_line"])
    if kind == "parquet":
        return readers.read_parquet_row_groups(Path(part["path"]), list(part["groups"]), part["first_row"])
    if kind == "postgres":
        from .postgres_parts import read_postgres_part

        return read_postgres_part(part)
    return iter(pickle.loads(part["payload"]))


def _jsonl_parts(path: Path, max_parts: int, part_bytes: int) -> list[dict[str, Any]]:
    size = path.stat().st_size
    n = max(1, min(max_parts, size // max(1, part_bytes)))
    cuts = [0]
    with path.open("rb") as f:
        for i in range(1, n):
            f.seek(max(cuts[-1], size * i // n))
            if f.tell() > 0:
                f.seek(f.tell() - 1)
                f.readline()  # to the start of the next line
            at = f.tell()
            if cuts[-1] < at < size:
                cuts.append(at)
        cuts.append(size)
        parts, line = [], 1
        for index, (start, end) in enumerate(zip(cuts, cuts[1:])):
            parts.append({"kind": "jsonl", "path": str(path), "start": start, "end": end, "first_line": line, "part": index})
            line += _newlines(f, start, end)
    return parts


def _newlines(f: Any, start: int, end: int) -> int:
    f.seek(start)
    count, left = 0, end - start
    while left > 0:
        block = f.read(min(left, 1 << 20))
        if not block:
            break
        count += block.count(b"\n")
        left -= len(block)
    return count


def _parquet_parts(path: Path, max_parts: int) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    from ..errors import CorpusError

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise CorpusError(f"{path}: not a readable Parquet file: {exc}") from None
    groups = meta.num_row_groups
    n = max(1, min(max_parts, groups))
    parts, row = [], 0
    for index in range(n):
        members = list(range(groups * index // n, groups * (index + 1) // n))
        parts.append({"kind": "parquet", "path": str(path), "groups": members, "first_row": row, "part": index})
        row += sum(meta.row_group(g).num_rows for g in members)
    return parts


def _documents(corpus: Any) -> Iterable[Document]:
    from ..engine import _open_corpus

    return _open_corpus(corpus)


def _document_blocks(docs: Iterable[Document]) -> Iterator[dict[str, Any]]:
    block: list[Document] = []
    index = 0
    for doc in docs:
        block.append(doc)
        if len(block) == DOCS_PER_BLOCK:
            yield {"kind": "documents", "payload": pickle.dumps(block), "part": index}
            block, index = [], index + 1
    if block or index == 0:
        yield {"kind": "documents", "payload": pickle.dumps(block), "part": index}
