"""Sharded collections: one index split over N shard bundles, searched with one bundle's results.

``retrieval index CORPUS --out DIR --shards N`` (``Engine.build(..., shards=N)``) writes a
collection; ``Engine.open(DIR)`` opens it with the bundle API. Modules, one concept each:
``layout`` (names), ``manifest`` (the collection manifest), ``routing`` (document -> shard),
``stats`` (corpus-wide BM25 statistics), ``build``, ``state`` (writing and committing a
version), ``opening`` and ``view`` (the read side), ``parts`` (store, vectors and sentences in
collection ids), ``updates`` (upsert, delete, sync and compact routed per shard).
The planner that fans out and merges is ``retrieval.search.sharded``.
"""

from __future__ import annotations

from .opening import is_collection, open_collection

__all__ = ["is_collection", "open_collection"]
