"""Every file and directory name of a sharded collection, in one place.

    collection.json        the collection manifest: its current version (``manifest.py``)
    collection.prev.json   the previous version's manifest (its files are kept until the next commit)
    .update.lock           one writer at a time
    shard-000/ ...         the shards: ordinary index bundles (each with its own versions)
    state-000001/          per collection version: the corpus-wide BM25 statistics and the
                           global chunk ids of each shard's chunks
"""

from __future__ import annotations

MANIFEST = "collection.json"
PREVIOUS_MANIFEST = "collection.prev.json"
LOCK_FILE = ".update.lock"

FORMAT = "retrieval-collection"
FORMAT_VERSION = 1

TERMS_FILE = "terms.json"  # the corpus's vocabulary (terms with live documents), sorted
DF_FILE = "df.npy"  # uint32 [terms]: live document frequency of each, summed over the shards


def shard_name(index: int) -> str:
    return f"shard-{index:03d}"


def state_dir(version: int) -> str:
    return f"state-{version:06d}"


def ids_file(shard: str) -> str:
    """int64, sorted: the collection-wide chunk id of each of the shard's chunks (row = its own id)."""
    return f"ids-{shard}.npy"
