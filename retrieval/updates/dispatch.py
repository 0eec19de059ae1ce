"""What an update applies to: one bundle, or a collection whose documents are routed to shards.

``apply_update`` and ``compact`` are the entry points of every update (the engine, the CLI,
``sync``): a collection goes to ``retrieval.collection.updates``, which updates each shard with
``update_bundle``/``compact_bundle`` and commits the collection once; a bundle goes to those
directly, unless it is a shard of a collection (the collection names its versions, so a shard
changes only through it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError
from ..types import Document
from .updater import UpdateReport, _embedder_of, update_bundle


def apply_update(
    root: str | Path,
    *,
    upserts: Iterable[Document] = (),
    deletes: Iterable[str] = (),
    force: bool = False,
    keep_only: set[str] | None = None,
    engine: Any = None,
    embedder: Any = None,
    manifest_extra: dict[str, Any] | None = None,
    store_dsn: str | None = None,
) -> UpdateReport:
    """Apply ``deletes`` then ``upserts`` as one new version (arguments: ``update_bundle``)."""
    from ..collection import is_collection

    dsn = store_dsn or getattr(engine, "_store_dsn", None)
    if is_collection(root):
        from ..collection.updates import apply_collection_update

        return apply_collection_update(
            root, upserts=upserts, deletes=deletes, force=force, keep_only=keep_only,
            embedder=_embedder_of(engine, embedder), sync=(manifest_extra or {}).get("sync"), store_dsn=dsn,
        )
    refuse_shard(root)
    return update_bundle(root, upserts=upserts, deletes=deletes, force=force, keep_only=keep_only, engine=engine,
                         embedder=embedder, manifest_extra=manifest_extra, store_dsn=store_dsn)


def compact(root: str | Path, *, engine: Any = None, embedder: Any = None, store_dsn: str | None = None) -> UpdateReport:
    """Rewrite without deleted chunks as a new version: the bundle, or every shard that has some."""
    from ..collection import is_collection
    from .compact import compact_bundle

    if is_collection(root):
        from ..collection.updates import compact_collection

        dsn = store_dsn or getattr(engine, "_store_dsn", None)
        return compact_collection(root, embedder=_embedder_of(engine, embedder), store_dsn=dsn)
    refuse_shard(root)
    return compact_bundle(root, engine=engine, embedder=embedder, store_dsn=store_dsn)


def refuse_shard(root: str | Path) -> None:
    """A shard of a collection changes only through its collection."""
    from ..collection.opening import collection_of_shard

    owner = collection_of_shard(Path(root))
    if owner is not None:
        raise ConfigError(f"{root} is a shard of the collection {owner}: update, sync or compact the collection instead")
