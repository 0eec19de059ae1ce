"""Which shard holds a document: a stable hash of its id (the same on every machine and run).

Python's ``hash()`` is salted per process, so it cannot route: a document upserted tomorrow must
go to the shard that holds it today. BLAKE2b over the UTF-8 id, first 8 bytes big-endian, modulo
the shard count.
"""

from __future__ import annotations

import hashlib

RULE = "blake2b-64(doc_id) mod shards"
MAX_SHARDS = 256


def shard_of(doc_id: str, shards: int) -> int:
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def check_shard_count(shards: object) -> int:
    from ..errors import ConfigError

    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ConfigError(f"shards must be an integer between 1 and {MAX_SHARDS}, got {shards!r}")
    return shards
