"""One contract, every chunk store: the same chunks in give the same answers out."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from retrieval.errors import NotFoundError
from retrieval.stores import ChunkStore, ParquetChunkStore, ParquetChunkWriter
from retrieval.types import Chunk


def _chunks(n: int = 57) -> list[Chunk]:
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        doc = f"doc-{i // 3}"
        words = " ".join(f"w{int(x)}" for x in rng.integers(0, 500, size=int(rng.integers(1, 40))))
        out.append(Chunk(id=f"{doc}#{i % 3}", doc_id=doc, ordinal=i % 3, text=f"ünïcode {words}",
                         title="" if i % 5 == 0 else f"Title {i // 3}", start=i * 10, end=i * 10 + len(words), n_tokens=len(words) // 3))
    return out


CHUNKS = _chunks()


def _other_chunks() -> list[Chunk]:
    """Different text under the same chunk ids: what another bundle key holds."""
    return [Chunk(id=c.id, doc_id=f"other-{c.doc_id}", ordinal=c.ordinal, text=f"other {c.text}", title="o",
                  start=0, end=1, n_tokens=1) for c in CHUNKS]


PG = pytest.mark.postgres


@pytest.fixture(params=["parquet", "layered", pytest.param("postgres", marks=PG), pytest.param("postgres-bundle", marks=PG),
                        pytest.param("postgres-count", marks=PG), pytest.param("postgres-writer", marks=PG)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChunkStore]:
    """``postgres``: the default key, loaded by ``load_chunks``. ``postgres-bundle``: a
    non-empty key written by ``put_chunks`` beside other keys' rows. ``postgres-count``: rows
    past the given count (an interrupted update's) are invisible. ``postgres-writer``: written
    by ``PostgresChunkWriter`` in small batches, opened from its manifest section. ``layered``:
    an updated bundle's base and delta Parquet files read as one."""
    if request.param in ("parquet", "layered"):
        split = len(CHUNKS) if request.param == "parquet" else 40
        for name, part in (("base.parquet", CHUNKS[:split]), ("delta.parquet", CHUNKS[split:])):
            writer = ParquetChunkWriter(tmp_path / name, batch_rows=10)
            for chunk in part:
                writer.add(chunk)
            writer.close()
        if request.param == "parquet":
            yield ParquetChunkStore(tmp_path / "base.parquet")
        else:
            from retrieval.bundle.layers import LayeredChunkStore

            yield LayeredChunkStore(ParquetChunkStore(tmp_path / "base.parquet"), ParquetChunkStore(tmp_path / "delta.parquet"))
        return
    from retrieval.stores.postgres import PostgresChunkStore, PostgresChunkWriter

    dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
    if request.param == "postgres":
        pg = PostgresChunkStore(dsn, schema=schema)
        assert pg.load_chunks(iter(CHUNKS)) == len(CHUNKS)
    elif request.param == "postgres-bundle":
        for key in ("", "other", "3f2a9c"):
            with PostgresChunkStore(dsn, schema=schema, bundle=key) as other:
                other.put_chunks(0, _other_chunks() + _other_chunks()[:5])
        pg = PostgresChunkStore(dsn, schema=schema, bundle="3f2a9c", count=0)
        assert pg.put_chunks(0, iter(CHUNKS)) == len(CHUNKS)  # over the 62 rows already there
        pg.close()
        pg = PostgresChunkStore(dsn, schema=schema, bundle="3f2a9c", count=len(CHUNKS))
    elif request.param == "postgres-count":
        with PostgresChunkStore(dsn, schema=schema, bundle="b") as full:
            full.put_chunks(0, CHUNKS + _other_chunks()[:9])
        pg = PostgresChunkStore(dsn, schema=schema, bundle="b", count=len(CHUNKS))
    else:
        from retrieval.stores import open_chunk_store

        writer = PostgresChunkWriter(dsn, schema=schema, bundle="w1", batch_rows=10)
        assert [writer.add(c) for c in CHUNKS] == list(range(len(CHUNKS)))
        assert writer.close() == len(CHUNKS)
        pg = open_chunk_store(tmp_path, writer.describe(), len(CHUNKS))
    try:
        yield pg
    finally:
        pg.close()


def test_satisfies_the_protocol_and_counts(store: ChunkStore) -> None:
    assert isinstance(store, ChunkStore)
    assert len(store) == len(CHUNKS)


def test_get_returns_chunks_in_the_order_asked(store: ChunkStore) -> None:
    ids = [5, 0, 56, 5, 12]  # out of order, repeated, first and last
    assert store.get(ids) == [CHUNKS[i] for i in ids]
    assert store.get(np.arange(len(CHUNKS))[::-1]) == CHUNKS[::-1]


def test_doc_ids(store: ChunkStore) -> None:
    ids = np.array([9, 1, 9, 40])
    assert store.doc_ids(ids) == [CHUNKS[i].doc_id for i in ids]
    assert store.all_doc_ids().to_pylist() == [c.doc_id for c in CHUNKS]


@pytest.mark.parametrize("bad", [[len(CHUNKS)], [0, -1], [3, 10_000]])
def test_unknown_ids_raise_not_found(store: ChunkStore, bad: list[int]) -> None:
    with pytest.raises(NotFoundError, match="no chunk with id"):
        store.get(bad)
    with pytest.raises(NotFoundError):
        store.doc_ids(np.array(bad))


def test_close_is_idempotent(store: ChunkStore) -> None:
    store.close()
    store.close()


def test_no_ids_give_nothing(store: ChunkStore) -> None:
    assert store.get([]) == []
    assert store.get(np.array([], dtype=np.int64)) == []
    assert store.doc_ids(np.array([], dtype=np.int64)) == []
