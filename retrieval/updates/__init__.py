"""Incremental updates of an index bundle: upsert, delete, sync from PostgreSQL, compact.

Every update is a new bundle version committed atomically (see ``retrieval.bundle`` and
``retrieval.bundle.delta`` for the layout). The functions are ``updater.apply_update``,
``compact.compact`` and ``sync.sync``; names load on first use. Their commands are
``retrieval.cli.update``, ``sync`` and ``compact``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["UpdateReport", "apply_update"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import updater

        return getattr(updater, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
