"""Where a bundle's chunk text lives, chosen when it is built and recorded in its manifest.

The manifest's ``store`` section is one of::

    {"kind": "parquet", "file": "chunks.parquet"}              # the default (no section: same)
    {"kind": "postgres", "dsn": "postgresql://user@host:5432/db", "schema": "retrieval",
     "bundle": "<bundle key>"}

The recorded DSN never holds a password. Opening a PostgreSQL store takes its DSN from, first
to last: the ``dsn`` argument, the ``RETRIEVAL_STORE_DSN`` environment variable, the manifest's;
a password not in that DSN comes from libpq's ``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``),
which asyncpg reads too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..bundle.layout import CHUNKS_FILE
from ..errors import BundleError, ConfigError, NotFoundError
from .base import ChunkStore, ChunkWriter
from .parquet import ParquetChunkStore, ParquetChunkWriter
from .pg_connect import is_dsn, redact, strip_password

STORE_DSN_ENV = "RETRIEVAL_STORE_DSN"
PARQUET_FILE = CHUNKS_FILE


def make_chunk_writer(
    directory: Path, store: str | None, *, schema: str = "retrieval", bundle: str
) -> tuple[ChunkWriter, dict[str, Any]]:
    """A writer for a new bundle's chunks and the manifest ``store`` section that finds them.

    ``store`` None: ``directory / "chunks.parquet"``. A ``postgresql://`` (or ``postgres://``)
    DSN: rows under key ``bundle`` in ``schema``'s chunks table (rows already under that key
    are deleted first).
    """
    if store is None:
        return ParquetChunkWriter(Path(directory) / PARQUET_FILE), {"kind": "parquet", "file": PARQUET_FILE}
    if not is_dsn(store):
        raise ConfigError(f"chunk store must be a postgresql:// DSN (or none, for Parquet), got {redact(str(store))!r}")
    from .postgres import PostgresChunkWriter

    writer = PostgresChunkWriter(store, schema=schema, bundle=bundle)
    return writer, writer.describe()


def open_chunk_store(directory: Path, section: dict[str, Any] | None, count: int, dsn: str | None = None) -> ChunkStore:
    """The chunk store a manifest's ``store`` section (None: the Parquet default) describes,
    holding ``count`` chunks (``BundleError`` when it does not).

    ``dsn`` (else ``$RETRIEVAL_STORE_DSN``, else the manifest's) reaches a PostgreSQL store;
    see the module docstring for where its password comes from.
    """
    directory = Path(directory)
    if section is None:
        section = {"kind": "parquet"}
    if not isinstance(section, dict):
        raise BundleError(f"{directory}: the manifest's store section must be an object, got {section!r:.80}")
    kind = section.get("kind", "parquet")
    if kind == "parquet":
        name = section.get("file", PARQUET_FILE)
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise BundleError(f"{directory}: the manifest names an invalid chunk file {name!r}")
        store = ParquetChunkStore(directory / name)
        if len(store) != count:
            raise BundleError(f"{directory / name} holds {len(store)} chunks, the manifest says {count}")
        return store
    if kind == "postgres":
        return _open_postgres(directory, section, count, dsn)
    raise BundleError(f"{directory}: unknown chunk store kind {kind!r} in the manifest (known: parquet, postgres)")


def _open_postgres(directory: Path, section: dict[str, Any], count: int, dsn: str | None) -> ChunkStore:
    for key in ("schema", "bundle"):
        if not isinstance(section.get(key), str):
            raise BundleError(f"{directory}: the manifest's postgres store section has no {key!r} string")
    dsn = dsn or os.environ.get(STORE_DSN_ENV) or section.get("dsn")
    if not dsn:
        raise BundleError(
            f"{directory}: the chunks are in PostgreSQL but no DSN is known: give one (dsn=, {STORE_DSN_ENV})"
        )
    if not is_dsn(dsn):
        raise ConfigError(f"chunk store DSN must start with postgresql://, got {redact(dsn)!r}")
    from .postgres import PostgresChunkStore

    store = PostgresChunkStore(dsn, schema=section["schema"], bundle=section["bundle"], count=count)
    try:
        if count:  # first and last committed chunk: a wrong database, schema or deleted key
            store.doc_ids([0, count - 1])
    except NotFoundError:
        store.close()
        raise BundleError(
            f"{directory}: PostgreSQL at {redact(dsn)} has no chunks 0..{count - 1} under bundle key "
            f"{section['bundle']!r} in schema {section['schema']!r} (wrong database, or the key was deleted)"
        ) from None
    except BaseException:
        store.close()
        raise
    return store


def drop_chunk_rows(section: dict[str, Any] | None, dsn: str | None = None) -> int:
    """Delete the chunk rows a retired ``store`` section names (a PostgreSQL bundle key no version
    uses any more); return how many. Parquet sections own no rows outside their bundle: 0.

    ``dsn``: one with a password for the same server, if the section's (password-free) DSN needs
    it; it is used only when it names the same server and database as the section's."""
    if not section or section.get("kind") != "postgres":
        return 0
    recorded = section.get("dsn")
    if dsn is None or strip_password(dsn) != recorded:
        dsn = os.environ.get(STORE_DSN_ENV) or recorded
    if not dsn:
        raise BundleError("a retired PostgreSQL chunk store section has no DSN")
    from .postgres import PostgresChunkStore

    with PostgresChunkStore(dsn, schema=section["schema"], bundle=section["bundle"]) as store:
        return store.delete_bundle()
