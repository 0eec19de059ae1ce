"""A document's content hash: what decides whether an update changed it."""

from __future__ import annotations

import hashlib
import json

from ..types import Document


def document_hash(doc: Document) -> str:
    """sha256 over title, text and metadata (keys sorted): equal hashes, equal indexed content."""
    payload = json.dumps([doc.title, doc.text, dict(doc.metadata)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
