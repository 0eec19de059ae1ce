"""The manifest's ``store`` section: which writer a build gets, which store a bundle opens, and
that a recorded DSN never carries a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.errors import BundleError, ConfigError
from retrieval.stores import (STORE_DSN_ENV, ChunkWriter, ParquetChunkStore, ParquetChunkWriter, make_chunk_writer,
                              open_chunk_store)
from retrieval.stores.pg_connect import redact, strip_password
from retrieval.stores.postgres import store_section
from retrieval.types import Chunk

CHUNKS = [Chunk(id=f"d{i}#0", doc_id=f"d{i}", ordinal=0, text=f"text {i}", title="", start=0, end=6, n_tokens=2) for i in range(5)]


@pytest.mark.parametrize(
    "dsn, stripped",
    [
        ("postgresql://me:hunter2@db.example:5433/corpus", "postgresql://me@db.example:5433/corpus"),
        ("postgres://me:hunter2@h/db", "postgres://me@h/db"),
        ("postgresql://me:hun%40ter2@h/db", "postgresql://me@h/db"),  # percent-encoded
        ("postgresql://me:hunter2@@h/db", "postgresql://me@h/db"),  # an unescaped "@" in it
        ("postgresql://:hunter2@h/db", "postgresql://h/db"),
        ("postgresql://me:hunter2@h1:5432,h2:5433/db?sslmode=require&password=hunter2&sslpassword=hunter2",
         "postgresql://me@h1:5432,h2:5433/db?sslmode=require"),
        ("postgresql:///db?host=/run/postgresql&PASSWORD=hunter2&user=me", "postgresql:///db?host=/run/postgresql&user=me"),
        ("postgresql://me@h:5432/db", "postgresql://me@h:5432/db"),  # nothing to remove
        ("postgresql://h/db?password=hunter2", "postgresql://h/db"),
    ],
)
def test_manifest_dsn_has_no_password(dsn: str, stripped: str) -> None:
    """No server needed: the section a PostgreSQL store writes into a manifest."""
    section = store_section(dsn, schema="retrieval", bundle="abc123")
    assert section == {"kind": "postgres", "dsn": stripped, "schema": "retrieval", "bundle": "abc123"}
    assert "hunter2" not in str(section) and "hun%40ter2" not in str(section) and "***" not in str(section)
    assert strip_password(dsn) == stripped
    assert "hunter2" not in redact(dsn) and "ter2" not in redact(dsn)  # messages: user, hosts and db kept


def test_redact_marks_the_password_for_messages() -> None:
    assert redact("postgresql://me:pw@h:1/db?password=pw&x=1") == "postgresql://me:***@h:1/db?password=***&x=1"
    assert redact("postgresql://me:s3cr@t@host:5432/db") == "postgresql://me:***@host:5432/db"


def test_store_section_checks_schema_and_key() -> None:
    with pytest.raises(ConfigError, match="schema name"):
        store_section("postgresql://h/db", schema="Bad-Name", bundle="k")
    with pytest.raises(ConfigError, match="bundle key"):
        store_section("postgresql://h/db", schema="s", bundle="x" * 201)


def test_parquet_writer_and_store(tmp_path: Path) -> None:
    writer, section = make_chunk_writer(tmp_path, None, bundle="ignored")
    assert isinstance(writer, ParquetChunkWriter) and isinstance(writer, ChunkWriter)
    assert section == {"kind": "parquet", "file": "chunks.parquet"}
    assert [writer.add(c) for c in CHUNKS] == list(range(5)) and writer.close() == 5
    for given in (section, None, {"kind": "parquet"}):
        store = open_chunk_store(tmp_path, given, 5)
        assert isinstance(store, ParquetChunkStore) and store.get([4, 0]) == [CHUNKS[4], CHUNKS[0]]
    with pytest.raises(BundleError, match="holds 5 chunks, the manifest says 6"):
        open_chunk_store(tmp_path, section, 6)
    with pytest.raises(BundleError, match="invalid chunk file"):
        open_chunk_store(tmp_path, {"kind": "parquet", "file": "../chunks.parquet"}, 5)


def test_parquet_writer_abort_removes_the_file(tmp_path: Path) -> None:
    writer, _ = make_chunk_writer(tmp_path, None, bundle="k")
    writer.add(CHUNKS[0])
    writer.abort()
    assert not (tmp_path / "chunks.parquet").exists()


def test_unknown_store_kind_and_bad_store_spec(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="unknown chunk store kind 'redis'"):
        open_chunk_store(tmp_path, {"kind": "redis"}, 0)
    with pytest.raises(BundleError, match="no 'bundle' string"):
        open_chunk_store(tmp_path, {"kind": "postgres", "dsn": "postgresql://h/db", "schema": "s"}, 0)
    with pytest.raises(ConfigError, match="postgresql:// DSN"):
        make_chunk_writer(tmp_path, "mysql://me:hunter2@h/db", bundle="k")


@pytest.mark.postgres
def test_postgres_writer_section_and_store(pg_dsn, pg_schema, tmp_path: Path, monkeypatch) -> None:
    """The build's DSN carries a password (the test server trusts any); the manifest does not."""
    from retrieval.stores.postgres import PostgresChunkStore, PostgresChunkWriter
    from tests.stores.conftest import _free_port

    monkeypatch.delenv(STORE_DSN_ENV, raising=False)
    with_password = pg_dsn.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    writer, section = make_chunk_writer(tmp_path, with_password, schema=pg_schema, bundle="abc")
    assert isinstance(writer, PostgresChunkWriter) and isinstance(writer, ChunkWriter)
    assert section == {"kind": "postgres", "dsn": pg_dsn, "schema": pg_schema, "bundle": "abc"}
    for chunk in CHUNKS:
        writer.add(chunk)
    assert writer.close() == 5
    assert not (tmp_path / "chunks.parquet").exists()

    with open_chunk_store(tmp_path, section, 5) as store:  # the manifest's DSN
        assert isinstance(store, PostgresChunkStore) and store.get([3]) == [CHUNKS[3]]
        assert "hunter2" not in repr(store) and store.describe() == section
    with open_chunk_store(tmp_path, section, 3) as store:  # the committed count, not the rows
        assert len(store) == 3

    moved = dict(section, dsn=f"postgresql://postgres@127.0.0.1:{_free_port()}/gone")  # nothing listens
    monkeypatch.setenv(STORE_DSN_ENV, with_password)
    with open_chunk_store(tmp_path, moved, 5) as store:  # the environment beats the manifest
        assert store.dsn == with_password and len(store) == 5
    monkeypatch.setenv(STORE_DSN_ENV, moved["dsn"])
    with open_chunk_store(tmp_path, moved, 5, dsn=pg_dsn) as store:  # dsn= beats the environment
        assert store.dsn == pg_dsn

    monkeypatch.delenv(STORE_DSN_ENV)
    with pytest.raises(BundleError, match=r"has no chunks 0\.\.5 under bundle key 'abc'"):
        open_chunk_store(tmp_path, section, 6)
    with pytest.raises(BundleError, match="under bundle key 'nope'"):
        open_chunk_store(tmp_path, dict(section, bundle="nope"), 5)


def test_parquet_store_decodes_columns_only_when_read(tmp_path: Path) -> None:
    """Opening reads the footer alone (``retrieval index`` returns the engine it built without ever
    holding the corpus text); the document ids decode without the text; the text on the first get."""
    import pyarrow as pa

    big = [Chunk(id=f"d{i}#0", doc_id=f"d{i}", ordinal=0, text="word " * 2000, title="", start=0, end=10_000,
                 n_tokens=2000) for i in range(200)]  # ~2 MB of text, a few KB compressed
    writer = ParquetChunkWriter(tmp_path / "chunks.parquet")
    for chunk in big:
        writer.add(chunk)
    writer.close()
    before = pa.total_allocated_bytes()
    store = ParquetChunkStore(tmp_path / "chunks.parquet")
    assert len(store) == 200
    assert pa.total_allocated_bytes() - before < 100_000
    assert store.doc_ids([5, 0]) == ["d5", "d0"]
    assert pa.total_allocated_bytes() - before < 500_000
    assert store.get([199])[0] == big[199]
    assert pa.total_allocated_bytes() - before > 2_000_000


def test_parquet_store_refuses_a_file_that_is_not_a_chunk_table(tmp_path: Path) -> None:
    (tmp_path / "chunks.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(BundleError, match="cannot read chunk store"):
        ParquetChunkStore(tmp_path / "chunks.parquet")
