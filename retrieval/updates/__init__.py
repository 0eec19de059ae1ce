"""Incremental updates of an index bundle: upsert, delete, sync from PostgreSQL, compact.

Every update is a new bundle version committed atomically (see ``retrieval.bundle`` and
``retrieval.updates.delta`` for the layout).
"""

from .compact import compact
from .updater import UpdateReport, apply_update

__all__ = ["UpdateReport", "apply_update", "compact"]
