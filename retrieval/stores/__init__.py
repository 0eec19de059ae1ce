"""Chunk stores: Parquet (default) and PostgreSQL (asyncpg, imported when used)."""

from .base import ChunkStore
from .parquet import ParquetChunkStore, ParquetChunkWriter

__all__ = ["ChunkStore", "ParquetChunkStore", "ParquetChunkWriter", "PostgresChunkStore"]


def __getattr__(name: str):
    if name == "PostgresChunkStore":  # lazily: asyncpg is optional
        from .postgres import PostgresChunkStore

        return PostgresChunkStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
