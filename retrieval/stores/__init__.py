"""Chunk stores: Parquet (default) and PostgreSQL (asyncpg, imported when used)."""

from .base import ChunkStore, ChunkWriter
from .factory import STORE_DSN_ENV, make_chunk_writer, open_chunk_store
from .parquet import ParquetChunkStore, ParquetChunkWriter

__all__ = [
    "ChunkStore",
    "ChunkWriter",
    "ParquetChunkStore",
    "ParquetChunkWriter",
    "PostgresChunkStore",
    "PostgresChunkWriter",
    "STORE_DSN_ENV",
    "make_chunk_writer",
    "open_chunk_store",
]


def __getattr__(name: str):
    if name in ("PostgresChunkStore", "PostgresChunkWriter"):  # lazily: asyncpg is optional
        from . import postgres

        return getattr(postgres, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
