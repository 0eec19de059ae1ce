"""Streaming corpus, query and qrels readers (BEIR directory, JSONL, Parquet).

Memory stays constant in corpus size: JSONL is read a line at a time, Parquet a record batch at a
time with only the needed columns.

Document fields (JSONL keys, Parquet columns):
- id: ``_id``, else ``id``; a string or an integer (converted to str); required, non-empty.
- ``text``: required, a string (may be empty).
- ``title``: optional string; missing or null becomes "".
- anything else goes to ``Document.metadata`` when it is a small scalar (bool, int, float, or a
  string of at most ``METADATA_MAX_CHARS`` characters); other values (lists, objects, long
  strings, null) are ignored. A JSON object under ``metadata`` (BEIR's convention) is merged in
  by the same rule.

Every error is a ``CorpusError`` naming the file and, for JSONL, the 1-based line
(``path:line: message``); for Parquet, the 1-based row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import CorpusError
from ..types import Document

METADATA_MAX_CHARS = 256
ACCEPTED = "a BEIR directory (containing corpus.jsonl), a .jsonl file or a .parquet file"
_ID_FIELDS = ("_id", "id")
_CORE_FIELDS = frozenset({"_id", "id", "text", "title", "metadata"})
_PARQUET_BATCH_ROWS = 1024


def read_corpus(source: str | Path) -> Iterator[Document]:
    """Documents of a corpus, streamed in file order. Raises ``CorpusError`` up front for a
    missing file or an unknown format, and while iterating for a malformed record."""
    path = corpus_file(source)
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path)
    return _read_jsonl_docs(path)


def count_hint(source: str | Path) -> int | None:
    """Cheap estimate of the number of documents (for progress bars), or None if unknown.

    JSONL: the number of lines (blank lines included). Parquet: the row count in its metadata.
    """
    try:
        path = corpus_file(source)
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        lines, last = 0, b"\n"
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        return lines + (last != b"\n")
    except (CorpusError, OSError, ValueError):
        return None


def read_queries(path: str | Path) -> list[tuple[str, str]]:
    """``(query id, text)`` pairs of a JSONL queries file (or a BEIR directory's queries.jsonl)."""
    file = _existing(Path(path), "queries")
    if file.is_dir():
        file = _existing(file / "queries.jsonl", "queries")
    return [(_doc_id(obj, file, n), _text(obj, file, n)) for n, obj in _jsonl_objects(file)]


def read_query_texts(path: str | Path) -> list[str]:
    """Query texts of a ``.jsonl`` file (its ``"text"`` fields) or a plain file (one per line).

    For load tests and warm-up lists, where ids do not matter. Blank lines are skipped; plain
    lines are stripped of surrounding whitespace.
    """
    file = _existing(Path(path), "queries")
    if file.is_dir():
        file = _existing(file / "queries.jsonl", "queries")
    if file.suffix.lower() == ".jsonl":
        return [_text(obj, file, n) for n, obj in _jsonl_objects(file)]
    try:
        with file.open("r", encoding="utf-8", errors="strict") as f:
            lines = [line.strip() for line in f]
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{file}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CorpusError(f"cannot read {file}: {exc.strerror or exc}") from None
    if lines:
        lines[0] = lines[0].lstrip("\ufeff")  # tolerate a byte-order mark
    return [line for line in lines if line]


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Relevance judgements ``{query id: {doc id: score}}`` from a BEIR qrels TSV.

    Rows are ``query-id<TAB>corpus-id<TAB>score``; the header row is optional; blank lines are
    skipped; a repeated pair keeps its last score.
    """
    file = _existing(Path(path), "qrels")
    qrels: dict[str, dict[str, int]] = {}
    with file.open("r", encoding="utf-8", errors="strict", newline="") as f:
        try:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.rstrip("\r\n").split("\t")
                if len(fields) != 3:
                    fields = line.split()
                if n == 1 and [x.strip().lower() for x in fields] == ["query-id", "corpus-id", "score"]:
                    continue
                if len(fields) != 3:
                    raise CorpusError(
                        f"{file}:{n}: expected 3 tab-separated fields (query-id, corpus-id, score), got {len(fields)}"
                    )
                qid, did, score = (x.strip() for x in fields)
                if not qid or not did:
                    raise CorpusError(f"{file}:{n}: empty query-id or corpus-id")
                try:
                    qrels.setdefault(qid, {})[did] = int(score)
                except ValueError:
                    raise CorpusError(f"{file}:{n}: score must be an integer, got {score!r}") from None
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{file}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    return qrels


# -- locating files ---------------------------------------------------------------------------


def corpus_file(source: str | Path) -> Path:
    """The file a corpus source names (a BEIR directory's ``corpus.jsonl``), checked."""
    if isinstance(source, str) and source.startswith(("postgresql://", "postgres://")):
        raise CorpusError("a PostgreSQL corpus needs a query: pass retrieval.ingest.postgres_reader.PostgresCorpus(dsn, sql), or --sql on the command line")
    path = Path(source)
    if not path.exists():
        raise CorpusError(f"corpus not found: {path}")
    if path.is_dir():
        inner = path / "corpus.jsonl"
        if not inner.is_file():
            raise CorpusError(f"corpus not found: {inner} (a BEIR directory must contain corpus.jsonl)")
        return inner
    if path.suffix.lower() not in (".jsonl", ".parquet"):
        raise CorpusError(f"unsupported corpus format: {path}; accepted: {ACCEPTED}")
    return path


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise CorpusError(f"{what} not found: {path}")
    return path


# -- JSONL ------------------------------------------------------------------------------------


def _jsonl_objects(
    path: Path, start: int = 0, end: int | None = None, first_line: int = 1
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """``(line number, object)`` per non-blank line, read one line at a time; ``start``/``end``:
    a byte range whose lines alone are read (``start`` at a line's beginning, numbered ``first_line``)."""
    try:
        f = path.open("rb")
    except OSError as exc:
        raise CorpusError(f"cannot read {path}: {exc.strerror or exc}") from None
    with f:
        f.seek(start)
        at = start
        for n, raw in enumerate(f, first_line):
            if end is not None and at >= end:
                break
            at += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{path}:{n}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            if n == 1:
                line = line.lstrip("\ufeff")  # tolerate a byte-order mark
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{n}: malformed JSON: {exc.msg} (column {exc.colno})") from None
            if not isinstance(obj, dict):
                raise CorpusError(f"{path}:{n}: expected a JSON object, got {_type_name(obj)}")
            yield n, obj


def read_jsonl_range(path: Path, start: int, end: int, first_line: int) -> Iterator[Document]:
    """The documents of the lines in bytes ``start:end`` of a JSONL corpus (a distributed build's
    part; ``start`` at a line's beginning, that line numbered ``first_line``)."""
    return _read_jsonl_docs(path, start, end, first_line)


def _read_jsonl_docs(path: Path, start: int = 0, end: int | None = None, first_line: int = 1) -> Iterator[Document]:
    for n, obj in _jsonl_objects(path, start, end, first_line):
        yield Document(
            id=_doc_id(obj, path, n),
            text=_text(obj, path, n),
            title=_title(obj.get("title"), path, n),
            metadata=_metadata(obj),
        )


def _doc_id(obj: Mapping[str, Any], path: Path, line: int) -> str:
    for name in _ID_FIELDS:
        value = obj.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise CorpusError(
                f"{path}:{line}: field {name!r} must be a string or an integer, got {_type_name(value)}"
            )
        value = str(value)
        if not value:
            raise CorpusError(f"{path}:{line}: field {name!r} is empty")
        return value
    raise CorpusError(f"{path}:{line}: missing field '_id' (or 'id')")


def _text(obj: Mapping[str, Any], path: Path, line: int) -> str:
    if "text" not in obj:
        raise CorpusError(f"{path}:{line}: missing field 'text'")
    value = obj["text"]
    if not isinstance(value, str):
        raise CorpusError(f"{path}:{line}: field 'text' must be a string, got {_type_name(value)}")
    return value


def _title(value: Any, path: Path, line: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CorpusError(f"{path}:{line}: field 'title' must be a string, got {_type_name(value)}")
    return value


def _metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    nested = obj.get("metadata")
    if isinstance(nested, dict):
        meta.update((k, v) for k, v in nested.items() if isinstance(k, str) and _small_scalar(v))
    meta.update((k, v) for k, v in obj.items() if k not in _CORE_FIELDS and _small_scalar(v))
    return meta


def _small_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= METADATA_MAX_CHARS
    return isinstance(value, (bool, int, float))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(type(value), type(value).__name__)


# -- Parquet ----------------------------------------------------------------------------------


def read_parquet_row_groups(path: Path, row_groups: list[int], first_row: int) -> Iterator[Document]:
    """The documents of some row groups of a Parquet corpus (a distributed build's part; its
    first row is the file's ``first_row``, 0-based)."""
    return _read_parquet(path, row_groups, first_row)


def _read_parquet(path: Path, row_groups: list[int] | None = None, first_row: int = 0) -> Iterator[Document]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise CorpusError(f"{path}: not a readable Parquet file: {exc}") from None
    schema = pf.schema_arrow
    names = schema.names
    id_col = next((c for c in _ID_FIELDS if c in names), None)
    if id_col is None:
        raise CorpusError(f"{path}: missing column '_id' (or 'id'); columns: {', '.join(names)}")
    if "text" not in names:
        raise CorpusError(f"{path}: missing column 'text'; columns: {', '.join(names)}")
    strings = (pa.types.is_string, pa.types.is_large_string)
    _check_type(path, "text", schema.field("text").type, strings, "a string")
    _check_type(path, id_col, schema.field(id_col).type, (*strings, pa.types.is_integer), "a string or an integer")
    if "title" in names:
        _check_type(path, "title", schema.field("title").type, (*strings, pa.types.is_null), "a string")
    # Extra scalar columns become metadata, like extra JSONL keys.
    scalar = (*strings, pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    extras = [f.name for f in schema if f.name not in _CORE_FIELDS and any(t(f.type) for t in scalar)]
    columns = [id_col, "text"] + (["title"] if "title" in names else []) + extras
    return _parquet_docs(path, pf, columns, id_col, extras, row_groups, first_row)


def _parquet_docs(
    path: Path, pf: Any, columns: list[str], id_col: str, extras: list[str], row_groups: list[int] | None, first_row: int
) -> Iterator[Document]:
    import pyarrow as pa

    row = first_row
    try:
        for batch in pf.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=columns, row_groups=row_groups):
            data = batch.to_pydict()
            ids, texts = data[id_col], data["text"]
            titles = data.get("title") or [None] * len(ids)
            for i in range(len(ids)):
                row += 1
                if ids[i] is None:
                    raise CorpusError(f"{path}: row {row}: null '{id_col}'")
                if texts[i] is None:
                    raise CorpusError(f"{path}: row {row}: null 'text'")
                doc_id = str(ids[i])
                if not doc_id:
                    raise CorpusError(f"{path}: row {row}: field {id_col!r} is empty")
                meta = {c: data[c][i] for c in extras if data[c][i] is not None and _small_scalar(data[c][i])}
                yield Document(id=doc_id, text=texts[i], title=titles[i] or "", metadata=meta)
    except pa.ArrowException as exc:
        raise CorpusError(f"{path}: cannot read Parquet data near row {row + 1}: {exc}") from None


def _check_type(path: Path, column: str, dtype: Any, accepted: tuple[Any, ...], expected: str) -> None:
    if not any(check(dtype) for check in accepted):
        raise CorpusError(f"{path}: column {column!r} has type {dtype}, expected {expected}")
