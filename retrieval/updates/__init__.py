"""Incremental updates of an index bundle: upsert, delete, sync from PostgreSQL, compact.

Every update is a new bundle version committed atomically (see ``retrieval.bundle`` and
``retrieval.bundle.delta`` for the layout). The functions are ``dispatch.apply_update`` and
``dispatch.compact`` (a bundle, or a collection's shards) and ``sync.sync``; names load on first use. Their commands are
``retrieval.cli.update``, ``sync`` and ``compact``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UpdateReport", "apply_update"]


def __getattr__(name: str) -> Any:
    if name == "UpdateReport":
        from . import updater

        return updater.UpdateReport
    if name == "apply_update":
        from . import dispatch

        return dispatch.apply_update
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
