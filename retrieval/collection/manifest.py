"""The collection manifest: which shard versions make up one collection version.

    {"format": "retrieval-collection", "format_version": 1, "version": 3,
     "created": ..., "updated": ..., "checksum": sha256 of the rest,
     "routing": {"rule": "blake2b-64(doc_id) mod shards", "shards": 4},
     "shards": [{"name": "shard-000", "version": 2, "digest": "<the shard manifest's digest>",
                 "chunks": 1234, "live_chunks": 1200, "documents": 640}, ...],
     "embedder": {...} | null,          the shards' embedder identity (null: keyword only)
     "analyzer": {...}, "config": {...}, the shards' analyzer and index config
     "bm25": {"n_docs": ..., "total_tokens": ..., "terms": ...},   corpus-wide statistics
     "counts": {"documents", "chunks", "terms", "postings"},
     "state": "state-000003",           its statistics and id files, listed in "files"
     "files": {"state-000003/df.npy": {"sha256": ..., "bytes": ...}, ...},
     "source": ..., "sync": {...} | null}

A shard with no documents (hashing sent none there) has ``"digest": null`` and no directory.
A shard's ``digest`` names one of its bundle versions; opening the collection opens exactly that
version (the shard's current or previous manifest), so a crash between a shard's commit and the
collection's leaves the previous collection version opening whole.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import BundleError
from .layout import FORMAT, FORMAT_VERSION

CHECKSUM_KEY = "checksum"


@dataclass(frozen=True)
class ShardEntry:
    name: str
    digest: str | None  # the shard bundle version's manifest digest (None: an empty shard)
    version: int = 0
    chunks: int = 0  # chunk ids the shard holds, live or not (its rows)
    live_chunks: int = 0
    documents: int = 0

    @property
    def empty(self) -> bool:
        return self.digest is None


@dataclass(frozen=True)
class CollectionCounts:
    documents: int
    chunks: int
    terms: int
    postings: int


@dataclass(frozen=True)
class CollectionStats:
    n_docs: int
    total_tokens: int
    terms: int


@dataclass(frozen=True)
class CollectionManifest:
    version: int
    created: str
    routing: dict[str, Any]
    shards: tuple[ShardEntry, ...]
    embedder: dict[str, Any] | None
    analyzer: dict[str, Any]
    config: dict[str, Any]
    bm25: CollectionStats
    counts: CollectionCounts
    state: str
    files: dict[str, dict[str, Any]]
    updated: str | None = None
    source: str = ""
    sync: dict[str, Any] | None = None
    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    environment: dict[str, str] = field(default_factory=dict)

    # -- what ``Engine`` and the service read from any manifest ---------------------------------

    @property
    def index_config(self) -> Any:
        from ..config import IndexConfig

        return IndexConfig.from_dict(self.config)

    @property
    def total_chunks(self) -> int:
        """Collection-wide chunk ids in use (live or not): ids are 0 .. total_chunks - 1."""
        return sum(s.chunks for s in self.shards)

    @property
    def sentences(self) -> None:
        return None  # per shard; the compress benchmark reads a bundle's

    @functools.cached_property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["shards"] = [asdict(s) for s in self.shards]
        return raw

    def replace(self, **changes: Any) -> "CollectionManifest":
        return replace(self, **changes)

    @classmethod
    def parse(cls, raw: Any, where: str) -> "CollectionManifest":
        """The manifest in ``raw`` (parsed JSON), or ``BundleError`` naming ``where`` and the problem."""
        if not isinstance(raw, dict):
            raise BundleError(f"{where} is not a JSON object")
        if raw.get("format") != FORMAT:
            raise BundleError(f"{where} is not a collection manifest (format {raw.get('format')!r})")
        if raw.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"{where} has collection format version {raw.get('format_version')!r}; this library reads {FORMAT_VERSION}"
            )
        stated = raw.get(CHECKSUM_KEY)
        if stated != checksum(raw):
            raise BundleError(f"{where} is corrupt: its checksum does not match its contents")
        try:
            body = {k: v for k, v in raw.items() if k != CHECKSUM_KEY}
            body["shards"] = tuple(ShardEntry(**s) for s in body["shards"])
            body["bm25"] = CollectionStats(**body["bm25"])
            body["counts"] = CollectionCounts(**body["counts"])
            manifest = cls(**body)
        except (KeyError, TypeError) as exc:
            raise BundleError(f"{where} is malformed: {exc}") from None
        _check_shape(manifest, where)
        return manifest


def checksum(raw: dict[str, Any]) -> str:
    body = {k: v for k, v in raw.items() if k != CHECKSUM_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def manifest_bytes(manifest: CollectionManifest) -> bytes:
    raw = manifest.to_dict()
    raw[CHECKSUM_KEY] = checksum(raw)
    return json.dumps(raw, indent=2).encode("utf-8")


def _check_shape(manifest: CollectionManifest, where: str) -> None:
    from .layout import shard_name

    shards = manifest.routing.get("shards")
    if not isinstance(shards, int) or shards != len(manifest.shards) or shards < 1:
        raise BundleError(f"{where}: routing names {shards!r} shards, the manifest lists {len(manifest.shards)}")
    for i, shard in enumerate(manifest.shards):
        if shard.name != shard_name(i):
            raise BundleError(f"{where}: shard {i} is named {shard.name!r}, expected {shard_name(i)!r}")
    for rel in manifest.files:
        if rel.startswith("/") or ".." in rel.split("/") or not rel.startswith(manifest.state + "/"):
            raise BundleError(f"{where} lists a file outside its state directory: {rel!r}")
