"""Chunk stores: Parquet (default)."""

from .parquet import ParquetChunkStore, ParquetChunkWriter

__all__ = ["ParquetChunkStore", "ParquetChunkWriter"]
