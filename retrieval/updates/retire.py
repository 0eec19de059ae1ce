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

LOG = logging.getLogger("retrieval.updates")
RETIRED = "retired_stores"


def retired_by(old_manifest: dict[str, Any], new_store: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a new manifest records as retired: the old version's PostgreSQL store if it changed key."""
    old = old_manifest.get("store")
    if old and old.get("kind") == "postgres" and _key(old) != _key(new_store):
        return [old]
    return []


def drop_retired(previous: dict[str, Any], current: dict[str, Any], dsn: str | None = None) -> int:
    """After ``current`` is committed (``previous`` is now the kept previous version): delete the
    rows of keys ``previous`` retired that neither version uses. Returns the rows deleted."""
    keep = {_key(previous.get("store")), _key(current.get("store"))}
    return sum(drop_sections([s for s in previous.get(RETIRED) or [] if _key(s) not in keep], dsn))


def drop_sections(sections: list[dict[str, Any]], dsn: str | None = None) -> list[int]:
    from ..stores.factory import drop_chunk_rows

    dropped = []
    for section in sections:
        try:
            dropped.append(drop_chunk_rows(section, dsn))
        except Exception as exc:  # never undo a commit over garbage collection
            LOG.warning("could not delete chunk rows of retired bundle key %r (schema %r): %s",
                        section.get("bundle"), section.get("schema"), exc)
            dropped.append(0)
    return dropped


def _key(section: dict[str, Any] | None) -> tuple[Any, ...] | None:
    if not section or section.get("kind") != "postgres":
        return None
    return (section.get("dsn"), section.get("schema"), section.get("bundle"))


def stores_of(path: Any) -> list[dict[str, Any]]:
    """Every PostgreSQL store section the bundle at ``path`` references (current and previous
    version, and their retired keys): what an ``--overwrite`` rebuild leaves unused."""
    import json
    from pathlib import Path

    from ..bundle import MANIFEST, PREVIOUS_MANIFEST

    found: dict[Any, dict[str, Any]] = {}
    for name in (MANIFEST, PREVIOUS_MANIFEST):
        try:
            manifest = json.loads((Path(path) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for section in [manifest.get("store"), *(manifest.get(RETIRED) or [])]:
            if _key(section) is not None:
                found[_key(section)] = section
    return list(found.values())
