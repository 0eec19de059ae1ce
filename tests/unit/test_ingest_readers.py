"""Corpus, query and qrels readers: formats agree, every bad input names file and line, streaming."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retrieval.errors import CorpusError
from retrieval.ingest import count_hint, read_corpus, read_qrels, read_queries
from retrieval.types import Document

SCIFACT = Path(__file__).resolve().parents[3] / "shared" / "data" / "scifact"

RECORDS = [
    {"_id": "d1", "title": "First", "text": "Alpha beta.", "year": 2020, "source": "x"},
    {"_id": 2, "title": None, "text": "Gamma.", "tags": ["ignored"], "metadata": {"url": "u"}},
    {"_id": "d3", "text": "", "score": 0.5},
]
EXPECTED = [
    Document(id="d1", text="Alpha beta.", title="First", metadata={"year": 2020, "source": "x"}),
    Document(id="2", text="Gamma.", title="", metadata={"url": "u"}),
    Document(id="d3", text="", title="", metadata={"score": 0.5}),
]


def write_jsonl(path: Path, lines: list[object] | list[str]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


def write_parquet(path: Path, table: pa.Table, **kwargs: object) -> Path:
    pq.write_table(table, path, **kwargs)
    return path


def test_jsonl_beir_dir_and_parquet_give_the_same_documents(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "c.jsonl", [*RECORDS[:1], "", "   ", *RECORDS[1:]])  # blank lines skipped
    beir = tmp_path / "beir"
    beir.mkdir()
    write_jsonl(beir / "corpus.jsonl", RECORDS)
    table = pa.table(
        {
            "_id": ["d1", "2", "d3"],
            "title": ["First", None, None],
            "text": ["Alpha beta.", "Gamma.", ""],
            "year": [2020, None, None],
            "source": ["x", None, None],
            "url": [None, "u", None],
            "score": [None, None, 0.5],
            "tags": [[], ["ignored"], []],  # not a scalar column: ignored
        }
    )
    parquet = write_parquet(tmp_path / "c.parquet", table)
    assert list(read_corpus(jsonl)) == EXPECTED
    assert list(read_corpus(beir)) == EXPECTED
    assert list(read_corpus(str(parquet))) == EXPECTED


def test_parquet_integer_ids_and_plain_id_column(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "c.parquet", pa.table({"id": [7, 8], "text": ["a", "b"]}))
    assert [(d.id, d.title, d.text) for d in read_corpus(path)] == [("7", "", "a"), ("8", "", "b")]


def test_id_field_fallback_and_long_strings_not_metadata(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "x", "text": "t", "note": "n" * 1000, "flag": True}])
    (doc,) = read_corpus(path)
    assert doc.id == "x" and doc.metadata == {"flag": True}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('{"text": "t"}', "missing field '_id' (or 'id')"),
        ('{"_id": null, "text": "t"}', "missing field '_id' (or 'id')"),
        ('{"_id": 1.5, "text": "t"}', "field '_id' must be a string or an integer, got float"),
        ('{"_id": "", "text": "t"}', "field '_id' is empty"),
        ('{"_id": "a"}', "missing field 'text'"),
        ('{"_id": "a", "text": 3}', "field 'text' must be a string, got int"),
        ('{"_id": "a", "text": null}', "field 'text' must be a string, got null"),
        ('{"_id": "a", "text": "t", "title": ["x"]}', "field 'title' must be a string, got array"),
    ],
)
def test_bad_jsonl_line_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "ok", "text": "fine"}, "", line])
    docs = read_corpus(path)
    assert next(docs).id == "ok"
    with pytest.raises(CorpusError) as err:
        next(docs)
    assert f"{path}:3:" in str(err.value)
    assert message in str(err.value)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "\xff"}\n')
    with pytest.raises(CorpusError, match=re.escape(f"{path}:2: not valid UTF-8")):
        list(read_corpus(path))


def test_missing_corpus(tmp_path: Path) -> None:
    for missing in (tmp_path / "nope.jsonl", tmp_path / "nope.parquet", tmp_path / "nope"):
        with pytest.raises(CorpusError, match=re.escape(f"corpus not found: {missing}")):
            read_corpus(missing)


def test_beir_dir_without_corpus_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="corpus.jsonl"):
        read_corpus(tmp_path)


def test_unknown_extension_lists_accepted_formats(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,text\n")
    with pytest.raises(CorpusError) as err:
        read_corpus(path)
    assert str(path) in str(err.value)
    for accepted in ("BEIR directory", ".jsonl", ".parquet"):
        assert accepted in str(err.value)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"_id": ["a"]}, "missing column 'text'"),
        ({"text": ["t"]}, "missing column '_id' (or 'id')"),
        ({"_id": ["a"], "text": [1]}, "column 'text' has type int64, expected a string"),
        ({"_id": [1.5], "text": ["t"]}, "column '_id' has type double"),
    ],
)
def test_bad_parquet_schema_names_column_and_file(tmp_path: Path, columns: dict, message: str) -> None:
    path = write_parquet(tmp_path / "c.parquet", pa.table(columns))
    with pytest.raises(CorpusError) as err:
        read_corpus(path)
    assert str(path) in str(err.value) and message in str(err.value)


@pytest.mark.parametrize(("column", "values"), [("_id", ["a", None, "c"]), ("text", ["x", None, "z"])])
def test_parquet_null_names_the_row(tmp_path: Path, column: str, values: list) -> None:
    data = {"_id": ["a", "b", "c"], "text": ["x", "y", "z"]}
    data[column] = values
    path = write_parquet(tmp_path / "c.parquet", pa.table(data))
    docs = read_corpus(path)
    assert next(docs).id == "a"  # rows before the bad one are delivered
    with pytest.raises(CorpusError, match=re.escape(f"{path}: row 2: null '{column}'")):
        next(docs)


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    path.write_text("not parquet")
    with pytest.raises(CorpusError, match="not a readable Parquet file"):
        read_corpus(path)


def test_jsonl_is_streamed_line_by_line(tmp_path: Path) -> None:
    # A bad last line is only met at the end: everything before it was delivered lazily.
    n = 20_000
    path = tmp_path / "big.jsonl"
    filler = "lorem ipsum dolor sit amet " * 20  # ~540 chars: the file is ~11 MB
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"_id": str(i), "text": filler}) + "\n")
        f.write("{broken\n")
    docs = read_corpus(path)
    tracemalloc.start()
    try:
        first = next(docs)
        seen = 1
        with pytest.raises(CorpusError, match=f":{n + 1}:"):
            for _ in docs:
                seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first.id == "0" and seen == n
    # Measured: 11 KB peak for 11 MB of input; a reader that loads the file would need > 11 MB.
    assert peak < 1_000_000, peak


def test_parquet_is_read_in_batches(tmp_path: Path) -> None:
    n = 50_000
    table = pa.table({"_id": [str(i) for i in range(n)], "text": ["lorem ipsum " * 20] * n})
    path = write_parquet(tmp_path / "big.parquet", table, row_group_size=5_000)
    del table
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_corpus(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    # Python-side peak is about one record batch (measured 0.75 MB), not the whole 12 MB column.
    assert peak < 3_000_000, peak


def test_count_hint(tmp_path: Path) -> None:
    jsonl = write_jsonl(tmp_path / "c.jsonl", RECORDS)
    assert count_hint(jsonl) == 3
    no_newline = tmp_path / "d.jsonl"
    no_newline.write_text('{"_id": "a", "text": "t"}\n{"_id": "b", "text": "t"}')
    assert count_hint(no_newline) == 2
    parquet = write_parquet(tmp_path / "c.parquet", pa.table({"_id": ["a", "b"], "text": ["x", "y"]}))
    assert count_hint(parquet) == 2
    assert count_hint(tmp_path / "missing.jsonl") is None
    assert count_hint(tmp_path / "c.csv") is None


def test_read_queries(tmp_path: Path) -> None:
    records = [{"_id": 1, "text": "why?", "metadata": {}}, {"id": "q2", "text": "how?"}]
    path = write_jsonl(tmp_path / "q.jsonl", records)
    assert read_queries(path) == [("1", "why?"), ("q2", "how?")]
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"_id": "1"}])
    with pytest.raises(CorpusError, match=re.escape(f"{bad}:1: missing field 'text'")):
        read_queries(bad)
    with pytest.raises(CorpusError, match="queries not found"):
        read_queries(tmp_path / "none.jsonl")


def test_read_qrels(tmp_path: Path) -> None:
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n1\td2\t2\n\n2\td1\t0\n")
    assert read_qrels(path) == {"1": {"d1": 1, "d2": 2}, "2": {"d1": 0}}
    headerless = tmp_path / "h.tsv"
    headerless.write_text("1\td1\t1\n")
    assert read_qrels(headerless) == {"1": {"d1": 1}}


@pytest.mark.parametrize(
    ("row", "message"),
    [("1\td1", "expected 3 tab-separated fields"), ("1\td1\tyes", "score must be an integer"), ("1\td1\t1\t9", "got 4")],
)
def test_bad_qrels_row_names_file_and_line(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "test.tsv"
    path.write_text(f"query-id\tcorpus-id\tscore\n1\td1\t1\n{row}\n")
    with pytest.raises(CorpusError, match=re.escape(f"{path}:3: ") + ".*" + re.escape(message)):
        read_qrels(path)


def test_real_scifact() -> None:
    if not (SCIFACT / "corpus.jsonl").is_file():
        pytest.skip(f"SciFact not found at {SCIFACT}")
    docs = read_corpus(SCIFACT)
    first = next(docs)
    assert first.id == "4983" and first.title.startswith("Microstructural development")
    assert count_hint(SCIFACT) == 5183
    assert 1 + sum(1 for _ in docs) == 5183
    queries = read_queries(SCIFACT / "queries.jsonl")
    qrels = read_qrels(SCIFACT / "qrels" / "test.tsv")
    assert len(queries) == 300
    assert sum(len(v) for v in qrels.values()) == 339
