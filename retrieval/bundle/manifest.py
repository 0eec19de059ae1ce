"""The bundle manifest, typed: every section a dataclass, every key known, every value checked.

``manifest.json`` is JSON on disk; in the code it is a ``Manifest``. Reading goes through the
reader of the manifest's format version (``READERS``: one per format written so far), which
checks what that format guarantees and then parses strictly: an unknown key, a missing required
key or a value of the wrong type is refused with its dotted path, before anything it says is used
to open a file. Writers build the same dataclasses (or the dicts they parse from), so a key that
no reader knows can never be written either.

A section's *contents* belong to the module that produces it (``dense_index`` the ``dense``
section's embedder description, ``context.sentence_index`` the ``sentences`` section, the chunk
stores their ``store`` section); this module fixes their shape.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Union

from ..errors import BundleError

FORMAT = "retrieval-bundle"
# 2: the manifest carries its own checksum (``manifest_sha256``); version 1 bundles had none.
FORMAT_VERSION = 2
CHECKSUM_KEY = "manifest_sha256"


class ManifestError(ValueError):
    """A manifest value of the wrong shape; the reader turns it into a ``BundleError`` naming the file."""


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    bytes: int

    def __post_init__(self) -> None:
        _at_least("bytes", self.bytes, 0)


@dataclass(frozen=True)
class Counts:
    """Live documents and chunks, and the live corpus's terms and postings."""

    documents: int
    chunks: int
    terms: int
    postings: int

    def __post_init__(self) -> None:
        for name in ("documents", "chunks", "terms", "postings"):
            _at_least(name, getattr(self, name), 0)


@dataclass(frozen=True)
class BM25Section:
    """The BM25 parameters the index was built with, and the base's average document length."""

    k1: float
    b: float
    variant: str
    epsilon: float
    avgdl: float


@dataclass(frozen=True)
class TokenizerSection:
    """The tokenizer that counted chunk tokens (chunk boundaries depend on it)."""

    model_id: str
    sha256: str


@dataclass(frozen=True)
class StoreSection:
    """Where the chunk text lives: ``chunks.parquet`` in the bundle, or rows in PostgreSQL."""

    kind: str = "parquet"
    file: str | None = None  # parquet
    dsn: str | None = None  # postgres: the DSN without its password
    schema: str | None = None
    bundle: str | None = None  # postgres: the key of this bundle's rows

    @property
    def parquet(self) -> bool:
        return self.kind == "parquet"


@dataclass(frozen=True)
class MetadataSection:
    file: str
    rows: int
    keys: dict[str, int]  # each metadata key's document count


@dataclass(frozen=True)
class SentencesSection:
    """The context compressor's sentence index (``retrieval.context.sentence_index`` owns it)."""

    dir: str
    format: int
    chunks: int
    count: int
    dim: int
    dtype: str
    splitter: str
    embedded_with_title: bool
    title_words: int
    embedder_fingerprint: str | None = None
    # "contextual": pooled from each chunk's forward pass; "separate": each sentence embedded on
    # its own (``context.chunk_vectors``). Bundles from before it was recorded are "separate".
    vectors: str = "separate"


@dataclass(frozen=True)
class DenseSection:
    """The vector index and the embedder that made its vectors (``retrieval.dense_index`` owns it)."""

    embedder: dict[str, Any]
    vector_index: dict[str, Any]
    kind: str
    kind_requested: str
    count: int
    dim: int
    metric: str


@dataclass(frozen=True)
class SyncSection:
    """A PostgreSQL corpus's query and its watermark: where ``retrieval sync`` starts."""

    source: str
    sql: str
    watermark: str | None


@dataclass(frozen=True)
class BM25Stats:
    n_docs: int
    total_tokens: int


@dataclass(frozen=True)
class DeltaSection:
    """What an updated version adds to its base (see ``retrieval.bundle.delta``)."""

    dir: str
    base_chunks: int  # chunk ids below this are the base's
    chunks: int  # chunks added since the base (live or not)
    tombstones: int
    bm25_stats: BM25Stats  # the live corpus, which BM25 scores against
    vocab: int  # global vocabulary size
    sentences: SentencesSection | None = None

    def __post_init__(self) -> None:
        for name in ("base_chunks", "chunks", "tombstones", "vocab"):
            _at_least(name, getattr(self, name), 0)

    @property
    def total_chunks(self) -> int:
        return self.base_chunks + self.chunks

    @property
    def live_docs(self) -> int:
        return self.bm25_stats.n_docs

    @property
    def live_tokens(self) -> int:
        return self.bm25_stats.total_tokens


@dataclass(frozen=True)
class Manifest:
    """One bundle version, as ``manifest.json`` describes it."""

    format_version: int
    created: str
    environment: dict[str, str]
    config: dict[str, Any]  # the IndexConfig the bundle was built with (``index_config``)
    analyzer: dict[str, Any]
    bm25: BM25Section
    counts: Counts
    files: dict[str, FileEntry]
    format: str = FORMAT
    tokenizer: TokenizerSection | None = None
    store: StoreSection | None = None  # None: bundles from before the store was recorded (Parquet)
    dense: DenseSection | None = None
    metadata: MetadataSection | None = None  # None: bundles from before metadata was stored
    sentences: SentencesSection | None = None
    source: str = ""
    sync: SyncSection | None = None
    build_seconds: float | None = None
    build_stages_s: dict[str, float] = field(default_factory=dict)
    # Written by updates and compaction.
    version: int = 1
    updated: str | None = None
    compacted: str | None = None
    base: str = ""  # the base's directory ("": the bundle root; a compaction writes gen-*)
    delta: DeltaSection | None = None
    retired_stores: list[StoreSection] = field(default_factory=list)  # rows deleted after the next commit
    manifest_sha256: str | None = None

    @classmethod
    def parse(cls, raw: Any) -> "Manifest":
        """The manifest a JSON object describes; ``ManifestError`` names the first bad value."""
        return _parse(cls, raw, "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to disk (update-only keys left out while unset)."""
        raw = _dump(self)
        for name, absent in _UNSET_WHEN.items():
            if raw.get(name) == absent:
                del raw[name]
        return raw

    def replace(self, **changes: Any) -> "Manifest":
        return dataclasses.replace(self, **changes)

    @functools.cached_property
    def index_config(self) -> Any:
        """The ``IndexConfig`` the bundle was built with."""
        from ..config import IndexConfig

        return IndexConfig.from_dict(self.config)

    @property
    def base_chunks(self) -> int:
        """Chunks in the base: ids below this are the base's, the delta's come after."""
        return self.delta.base_chunks if self.delta else self.counts.chunks

    @property
    def parquet_store(self) -> bool:
        return self.store is None or self.store.parquet

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the whole manifest: it lists every file's sha256, so it names the version's contents."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()


# Keys a build does not write: omitted while they hold these values (a never-updated bundle).
_UNSET_WHEN: dict[str, Any] = {
    "version": 1,
    "updated": None,
    "compacted": None,
    "base": "",
    "delta": None,
    CHECKSUM_KEY: None,
}


# -- checksum and the readers per format ------------------------------------------------------


def manifest_checksum(raw: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON (sorted keys, compact), its checksum left out."""
    body = {k: v for k, v in raw.items() if k != CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(raw: dict[str, Any]) -> dict[str, Any]:
    """Set a manifest JSON object's checksum (in place) and return it: the last step before writing."""
    raw.pop(CHECKSUM_KEY, None)
    raw[CHECKSUM_KEY] = manifest_checksum(raw)
    return raw


def check_checksum(raw: dict[str, Any], where: Path) -> None:
    recorded = raw.get(CHECKSUM_KEY)
    if recorded is None:
        raise BundleError(f"{where} has no {CHECKSUM_KEY}: it was not written by this library or was edited; rebuild the bundle")
    actual = manifest_checksum(raw)
    if recorded != actual:
        raise BundleError(
            f"{where} fails its checksum ({CHECKSUM_KEY} {str(recorded)[:12]}... but the content hashes to "
            f"{actual[:12]}...): it was edited or damaged after it was written; rebuild the bundle"
        )


def _read_v1(raw: dict[str, Any], where: Path) -> Manifest:
    """Format 1 (before the checksum): the same sections, no ``manifest_sha256``."""
    if CHECKSUM_KEY in raw:
        raise BundleError(f"{where}: a format 1 manifest has no {CHECKSUM_KEY}; the bundle is corrupt")
    return _parsed(raw, where)


def _read_v2(raw: dict[str, Any], where: Path) -> Manifest:
    """Format 2: the checksum first, so an edited manifest is refused before it is parsed."""
    check_checksum(raw, where)
    return _parsed(raw, where)


READERS: dict[int, Callable[[dict[str, Any], Path], Manifest]] = {1: _read_v1, 2: _read_v2}


def read(raw: Any, where: Path) -> Manifest:
    """The manifest of a bundle whose ``manifest.json`` (at ``where``) holds ``raw``."""
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BundleError(f"{where.parent} is not a retrieval index bundle (foreign manifest)")
    version = raw.get("format_version")
    reader = READERS.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
    if reader is None:
        raise BundleError(
            f"{where.parent} has bundle format version {version!r}; this library reads versions "
            f"{', '.join(map(str, READERS))}: rebuild it"
        )
    return reader(raw, where)


def _parsed(raw: dict[str, Any], where: Path) -> Manifest:
    try:
        return Manifest.parse(raw)
    except ManifestError as exc:
        raise BundleError(f"{where}: {exc}; the bundle is corrupt or from a newer library") from None


# -- strict parsing of dataclasses from JSON ---------------------------------------------------


def _parse(cls: type, raw: Any, path: str) -> Any:
    where = f"the manifest's {path} section" if path else "the manifest"
    if not isinstance(raw, dict):
        raise ManifestError(f"{where} must be an object, got {raw!r:.80}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ManifestError(f"{where} has an unknown key {unknown[0]!r}")
    values = {}
    for name, spec in fields.items():
        dotted = f"{path}.{name}" if path else name
        if name not in raw:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                raise ManifestError(f"{where} lacks the required key {name!r}")
            continue
        values[name] = _value(hints[name], raw[name], dotted)
    try:
        return cls(**values)
    except ManifestError as exc:
        raise ManifestError(f"{where}: {exc}") from None


def _value(hint: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _value(inner, value, path)
    if dataclasses.is_dataclass(hint):
        return _parse(hint, value, path)
    if hint is Any:
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise ManifestError(f"the manifest's {path} must be an object, got {value!r:.80}")
        return {k: _value(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ManifestError(f"the manifest's {path} must be a list, got {value!r:.80}")
        return [_value(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ManifestError(f"the manifest's {path} must be {_NAMES.get(hint, hint)}, got {value!r:.80}")


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def dump(value: Any) -> Any:
    """``value`` (a section, or anything holding sections) as JSON values."""
    return _dump(value)


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            # Optional keys of sections left out while unset (a parquet store has no dsn).
            if item is None and f.default is None and not isinstance(value, Manifest):
                continue
            out[f.name] = _dump(item)
        return out
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v) for v in value]
    return value


def _at_least(name: str, value: int, low: int) -> None:
    if value < low:
        raise ManifestError(f"{name} must be a non-negative integer, got {value!r}")
