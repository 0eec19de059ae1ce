"""The PostgreSQL store's tables, created and migrated by the library.

``schema_version`` holds one row per applied migration; opening a store applies the missing ones
in order, in one transaction, under an advisory lock (two processes opening at once do not race).
A database migrated by a newer library version is refused rather than misread.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError

# Append only: a released migration never changes. Tables live in the store's own schema ({s}).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE {s}.documents (
        id text PRIMARY KEY,
        title text NOT NULL DEFAULT '',
        text text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        content_hash text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE {s}.chunks (
        id bigint PRIMARY KEY,          -- our integer chunk id (the row the indexes point at)
        chunk_id text NOT NULL UNIQUE,  -- "<doc_id>#<ordinal>"
        doc_id text NOT NULL,
        ordinal integer NOT NULL,
        text text NOT NULL,
        title text NOT NULL DEFAULT '',
        start bigint NOT NULL,
        "end" bigint NOT NULL,
        n_tokens integer NOT NULL
    );
    CREATE INDEX chunks_doc_id ON {s}.chunks (doc_id);
    """,
    # 2: chunks belong to a bundle key (one per bundle generation): rows are (bundle, id), and
    # an updated document's "doc#ordinal" chunk_id may recur under a new id in the same table
    # while the previous generation's row stays. Rows from version 1 get the key ''.
    """
    ALTER TABLE {s}.chunks ADD COLUMN bundle text NOT NULL DEFAULT '';
    ALTER TABLE {s}.chunks DROP CONSTRAINT chunks_pkey;
    ALTER TABLE {s}.chunks DROP CONSTRAINT chunks_chunk_id_key;
    ALTER TABLE {s}.chunks ADD CONSTRAINT chunks_pkey PRIMARY KEY (bundle, id);
    DROP INDEX {s}.chunks_doc_id;
    CREATE INDEX chunks_bundle_doc_id ON {s}.chunks (bundle, doc_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_schema_name(name: str) -> str:
    """A PostgreSQL schema name we can put in SQL unquoted (lower case letters, digits, _)."""
    if not isinstance(name, str) or not _IDENT.match(name):
        raise ConfigError(f"PostgreSQL schema name must match {_IDENT.pattern}, got {name!r}")
    return name


async def migrate(conn: Any, schema: str, *, target: int = SCHEMA_VERSION) -> int:
    """Bring ``schema`` up to ``target`` (tests migrate to older versions); return the version
    found before."""
    s = check_schema_name(schema)
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"no schema version {target} (latest is {SCHEMA_VERSION})")
    async with conn.transaction():
        # Serialize concurrent migrations of the same schema (lock released at commit).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"retrieval:{s}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.schema_version ("
            "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        found = await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {s}.schema_version")
        if found > SCHEMA_VERSION:
            raise ConfigError(
                f"PostgreSQL schema {s} is at version {found}, newer than this library's {SCHEMA_VERSION}: upgrade retrieval"
            )
        for version in range(found + 1, target + 1):
            await conn.execute(MIGRATIONS[version - 1].format(s=s))
            await conn.execute(f"INSERT INTO {s}.schema_version (version) VALUES ($1)", version)
    return int(found)
