"""Indexing a corpus straight from a PostgreSQL query (`retrieval index postgresql://... --sql`)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.cli import main
from retrieval.errors import CorpusError, StoreUnavailableError
from retrieval.ingest.postgres_reader import PostgresCorpus
from tests.conftest import SMALL_CORPUS, write_jsonl

pytestmark = pytest.mark.postgres
KEYWORD_ONLY = IndexConfig.from_dict({"dense": False})
ROWS = SMALL_CORPUS + [
    {"_id": f"gen-{i}", "title": f"Generated {i}", "text": " ".join(f"word{(i * 7 + j) % 97}." for j in range(60))}
    for i in range(40)
]


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def corpus_table(pg_cluster) -> str:
    values = ", ".join(
        f"({_sql_literal(r['_id'])}, {_sql_literal(r['title'])}, {_sql_literal(r['text'])}, {n}, '{{\"k\": {n}}}'::jsonb, NULL)"
        for n, r in enumerate(ROWS)
    )
    pg_cluster.execute(
        "CREATE TABLE corpus (id text PRIMARY KEY, title text, text text, pos int, extra jsonb, gone text)",
        f"INSERT INTO corpus VALUES {values}",
        "CREATE TABLE big AS SELECT g AS id, 'row number ' || g AS text FROM generate_series(1, 20000) g",
    )
    return "SELECT id, title, text, pos, extra, gone FROM corpus ORDER BY pos"


def test_documents_carry_extra_columns_as_metadata(pg_dsn, corpus_table) -> None:
    docs = list(PostgresCorpus(pg_dsn, corpus_table))
    assert [d.id for d in docs] == [r["_id"] for r in ROWS]
    assert docs[1].title == "json module" and docs[1].text == ROWS[1]["text"]
    assert docs[1].metadata == {"pos": 1, "extra": {"k": 1}}  # null columns left out


def test_index_from_postgres_equals_index_from_jsonl(pg_dsn, corpus_table, tmp_path: Path, capsys) -> None:
    from_jsonl = Engine.build(write_jsonl(tmp_path / "c.jsonl", ROWS), tmp_path / "jsonl", KEYWORD_ONLY)
    assert main(["index", pg_dsn, "--sql", corpus_table, "--out", str(tmp_path / "pg"), "--no-dense", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == len(ROWS)
    from_pg = Engine.open(tmp_path / "pg")
    assert from_pg.counts == from_jsonl.counts
    everything = np.arange(len(from_pg.store))
    assert from_pg.store.get(everything) == from_jsonl.store.get(everything)
    for query in ["read a file line by line", "json", "word13 word20", "regular expression"]:
        a, b = from_pg.search(query, k=10), from_jsonl.search(query, k=10)
        assert [(h.id, round(h.score, 5)) for h in a.hits] == [(h.id, round(h.score, 5)) for h in b.hits]
    assert from_pg.manifest.source.startswith(pg_dsn)


def test_rows_stream_through_a_server_side_cursor(pg_dsn, pg_cluster, corpus_table) -> None:
    corpus = PostgresCorpus(pg_dsn, "SELECT id, text FROM big ORDER BY id", batch_rows=300)
    docs = iter(corpus)
    assert inspect.isgenerator(docs)
    first = next(docs)
    assert (first.id, first.text, corpus.rows_read) == ("1", "row number 1", 300)  # one batch, not 20k rows
    # The cursor's read-only transaction stays open on the server while we consume.
    assert pg_cluster.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'") == 1
    assert sum(1 for _ in docs) == 19_999
    assert corpus.rows_read == 20_000
    early = iter(corpus)
    next(early)
    early.close()  # abandoning the stream ends the transaction and the connection
    assert pg_cluster.execute("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'") == 0


def test_reader_errors_are_clear(pg_dsn, corpus_table) -> None:
    with pytest.raises(CorpusError, match=r"SQL error in --sql query: .*SQLSTATE 42P01"):
        list(PostgresCorpus(pg_dsn, "SELECT id, text FROM no_such_table"))
    with pytest.raises(CorpusError, match="no 'text' column; columns: id, title"):
        list(PostgresCorpus(pg_dsn, "SELECT id, title FROM corpus"))
    with pytest.raises(CorpusError, match="no 'id' \\(or '_id'\\) column"):
        list(PostgresCorpus(pg_dsn, "SELECT title, text FROM corpus"))
    with pytest.raises(CorpusError, match="row 1 .*'text' must be non-null text"):
        list(PostgresCorpus(pg_dsn, "SELECT 'x' AS id, NULL::text AS text"))
    with pytest.raises(CorpusError, match="SQL error"):  # read-only: the query cannot change data
        list(PostgresCorpus(pg_dsn, "DELETE FROM corpus RETURNING id, text"))
    with pytest.raises(CorpusError, match="SQL error while reading .*division by zero"):
        list(PostgresCorpus(pg_dsn, "SELECT id, (1 / (id - 20000))::text AS text FROM big ORDER BY id"))


def _cli_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("retrieval: error: ")
    return err


def test_cli_errors_are_one_line(pg_dsn, corpus_table, tmp_path: Path, capsys) -> None:
    from tests.stores.conftest import _free_port

    out = str(tmp_path / "b")
    assert "needs --sql" in _cli_error(capsys, "index", pg_dsn, "--out", out, "--no-dense")
    assert "SQL error" in _cli_error(capsys, "index", pg_dsn, "--out", out, "--no-dense", "--sql", "SELEC id")
    assert "no 'text' column" in _cli_error(capsys, "index", pg_dsn, "--out", out, "--no-dense", "--sql", "SELECT id FROM corpus")
    down = f"postgresql://postgres:hunter2@127.0.0.1:{_free_port()}/x"
    err = _cli_error(capsys, "index", down, "--out", out, "--no-dense", "--sql", "SELECT 1")
    assert "UNAVAILABLE: reading the corpus: cannot reach PostgreSQL" in err and "hunter2" not in err
    assert "only for a postgresql://" in _cli_error(capsys, "index", "demo", "--out", out, "--sql", "SELECT 1")
    assert not Path(out).exists()


def test_unreachable_server_raises_store_unavailable() -> None:
    from tests.stores.conftest import _free_port

    with pytest.raises(StoreUnavailableError, match="^UNAVAILABLE"):
        next(iter(PostgresCorpus(f"postgresql://u@127.0.0.1:{_free_port()}/x", "SELECT 1")))
