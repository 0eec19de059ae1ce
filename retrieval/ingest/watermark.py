"""The change-tracking watermark of a PostgreSQL corpus, and the manifest section that keeps it.

Shared by the reader (a build records the largest ``updated_at`` it read) and ``retrieval sync``
(which reads rows from that watermark on), so neither imports the other.
"""

from __future__ import annotations

import datetime
from typing import Any

from ..errors import ConfigError
from ..stores.pg_connect import redact

WATERMARK_COLUMN = "updated_at"


def sync_section(dsn: str, sql: str, watermark: Any) -> dict[str, Any]:
    """The manifest's ``sync`` section: the query, where it reads from, and its watermark."""
    return {"source": redact(dsn), "sql": sql, "watermark": watermark_to_text(watermark)}


def watermark_to_text(value: Any) -> str | None:
    """The manifest form of an ``updated_at`` value (ISO timestamp or number; None stays None)."""
    if value is None:
        return None
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return repr(value)
    raise ConfigError(f"updated_at must be a timestamp or a number, got {type(value).__name__}")


def watermark_from_text(text: str) -> Any:
    """The value ``watermark_to_text`` wrote: a datetime, else an int, else a float."""
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return int(text)
    except ValueError:
        return float(text)


def watermark_from_text_or_none(text: str | None) -> Any:
    return None if text is None else watermark_from_text(text)
