"""Chunk rows under retired PostgreSQL bundle keys, deleted once no kept version uses them.

A compaction (or an ``--overwrite`` rebuild) of a bundle whose chunk text is in PostgreSQL writes
its chunks under a new bundle key. The previous version must stay openable until the next
commit, so the old key is recorded in the new manifest's ``retired_stores`` and its rows are
deleted after the next commit, when neither the current nor the previous version uses it.
Deleting is best effort: the commit stands even if the server is unreachable (a warning says
which key to delete by hand with ``PostgresChunkStore(dsn, bundle=key).delete_bundle()``).
"""

from __future__ import annotations

import logging
from typing import Any

from ..bundle.manifest import Manifest, StoreSection, dump

LOG = logging.getLogger("retrieval.updates")


def retired_by(old: Manifest, new_store: StoreSection | None) -> list[StoreSection]:
    """What a new manifest records as retired: the old version's PostgreSQL store if it changed key."""
    if old.store is not None and _key(old.store) is not None and _key(old.store) != _key(new_store):
        return [old.store]
    return []


def drop_retired(previous: Manifest, current: Manifest, dsn: str | None = None) -> int:
    """After ``current`` is committed (``previous`` is now the kept previous version): delete the
    rows of keys ``previous`` retired that neither version uses. Returns the rows deleted."""
    keep = {_key(previous.store), _key(current.store)}
    return sum(drop_sections([s for s in previous.retired_stores if _key(s) not in keep], dsn))


def drop_sections(sections: list[StoreSection], dsn: str | None = None) -> list[int]:
    from ..stores.factory import drop_chunk_rows

    dropped = []
    for section in sections:
        try:
            dropped.append(drop_chunk_rows(dump(section), dsn))
        except Exception as exc:  # never undo a commit over garbage collection
            LOG.warning("could not delete chunk rows of retired bundle key %r (schema %r): %s",
                        section.bundle, section.schema, exc)
            dropped.append(0)
    return dropped


def drop_replaced(replaced: list[StoreSection], new_store: dict[str, Any] | None, dsn: str | None) -> None:
    """After an ``--overwrite`` rebuild: delete the rows of the stores the old bundle used,
    unless the new one (its ``store`` section as a writer made it) writes under the same key."""
    new_key = _key(StoreSection(**new_store)) if new_store else None
    drop_sections([s for s in replaced if _key(s) != new_key], dsn)


def _key(section: StoreSection | None) -> tuple[Any, ...] | None:
    if section is None or section.kind != "postgres":
        return None
    return (section.dsn, section.schema, section.bundle)


def stores_of(path: Any) -> list[StoreSection]:
    """Every PostgreSQL store the bundle at ``path`` references (current and previous version,
    and their retired keys): what an ``--overwrite`` rebuild leaves unused. Read leniently: the
    bundle is about to be replaced, and a damaged manifest just has nothing to retire."""
    import json
    from pathlib import Path

    from ..bundle import MANIFEST, PREVIOUS_MANIFEST
    from ..collection.layout import MANIFEST as COLLECTION_MANIFEST

    if (Path(path) / COLLECTION_MANIFEST).is_file():  # a collection: every shard's stores
        return [s for shard in sorted(Path(path).glob("shard-*")) if shard.is_dir() for s in stores_of(shard)]
    found: dict[Any, StoreSection] = {}
    for name in (MANIFEST, PREVIOUS_MANIFEST):
        try:
            raw = json.loads((Path(path) / name).read_text(encoding="utf-8"))
            sections = [raw.get("store"), *(raw.get("retired_stores") or [])]
        except (OSError, ValueError, AttributeError, TypeError):
            continue
        for section in sections:
            try:
                store = StoreSection(**section)
            except TypeError:  # not a store section at all
                continue
            if _key(store) is not None:
                found[_key(store)] = store
    return list(found.values())
