"""What a bundle of this format must hold, where its files may be, and the manifest's own checksum.

The manifest lists every file with its size and sha256, but that list cannot vouch for itself:
emptied, it would switch every integrity check off, and an entry such as ``../x`` or
``/etc/hostname`` would send opening outside the bundle. So:

* the files a version must have follow from its declared features (chunk store, dense index,
  sentence index, metadata, delta), not from the list (``required_files``);
* every listed path is a plain relative path that stays inside the bundle, checked before any
  file is touched (``check_file_entries``);
* the manifest carries the sha256 of its own canonical content (``manifest.manifest_checksum``),
  so an edited or damaged manifest is refused before anything it says is trusted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import BundleError
from .layout import (
    BM25_ARRAYS,
    BM25_DIR,
    BM25_FILES,
    CHUNKS_FILE,
    DELTA_FILES,
    DOCUMENTS_FILE,
    DENSE_FILES,
    METADATA_FILE,
    SENTENCE_FILES,
    SENTENCES_DIR,
)
from .manifest import DeltaSection, Manifest

_SHA256 = re.compile(r"[0-9a-f]{64}")


def plain_name(name: Any, what: str) -> str:
    """``name`` when it is one directory entry inside the bundle (no separator, not hidden)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise BundleError(f"the manifest names an invalid {what} {name!r}: it must be a directory inside the bundle")
    return name


def check_file_list(root: Path, manifest: Manifest, where: Path) -> None:
    """Refuse a manifest whose paths are unsafe or which lacks a file its format requires."""
    files = manifest.files
    check_file_entries(root, files, where)
    try:
        required = required_files(manifest)
    except BundleError as exc:  # a section that contradicts the format
        raise BundleError(f"{where}: {exc}") from None
    unlisted = sorted(required - set(files))
    if unlisted:
        more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
        raise BundleError(f"{where} does not list {unlisted[0]}{more}, which this bundle's format requires; rebuild it")


def check_file_entries(root: Path, files: dict[str, Any], where: Path) -> None:
    """Refuse a file list whose paths could leave the bundle or whose digests are malformed.

    Paths are checked as text first (relative, normalised, no ``..``), before anything on disk is
    touched; then a path that resolves outside the bundle (through a symlink) is refused too.
    """
    for rel, meta in files.items():
        if not _plain_relative(rel):
            raise BundleError(f"{where} lists {rel!r}: a file path must be relative and stay inside the bundle")
        if not _SHA256.fullmatch(meta.sha256):
            raise BundleError(f"{where} has a malformed entry for {rel}: its sha256 must be 64 hex digits")
    inside = root.resolve()
    for rel in files:
        target = (root / rel).resolve()
        if target != inside and inside not in target.parents:
            raise BundleError(f"{where} lists {rel}, which leads outside the bundle (to {target})")


def required_files(manifest: Manifest) -> set[str]:
    """The paths (relative to the bundle root) every version with this manifest's features has."""
    at_base = (plain_name(manifest.base, "base directory") + "/") if manifest.base else ""
    required = {at_base + DOCUMENTS_FILE, *(f"{at_base}{BM25_DIR}/{name}" for name in BM25_FILES)}
    parquet = manifest.parquet_store
    if manifest.store is not None and parquet:
        _expect(manifest.store.file, CHUNKS_FILE, "store", "file")
    if parquet:
        required.add(at_base + CHUNKS_FILE)
    if manifest.metadata:
        _expect(manifest.metadata.file, METADATA_FILE, "metadata", "file")
        required.add(at_base + METADATA_FILE)
    dense = manifest.dense is not None
    if dense:
        required.update(at_base + name for name in DENSE_FILES)
    if manifest.sentences:
        if not dense:
            raise BundleError("the manifest declares a sentence index but no dense index: the bundle is corrupt")
        _expect(manifest.sentences.dir, SENTENCES_DIR, "sentences", "dir")
        required.update(f"{at_base}{SENTENCES_DIR}/{name}" for name in SENTENCE_FILES)
    if manifest.delta:
        required |= _delta_files(manifest.delta, parquet=parquet, dense=dense, metadata=manifest.metadata is not None)
    return required


def _delta_files(delta: DeltaSection, *, parquet: bool, dense: bool, metadata: bool) -> set[str]:
    at = plain_name(delta.dir, "delta directory") + "/"
    required = {at + name for name in DELTA_FILES}
    if parquet:
        required.add(at + CHUNKS_FILE)
    if metadata:
        required.add(at + METADATA_FILE)
    if delta.chunks:  # a delta that only deletes has no BM25 segment of its own
        required.update(f"{at}{BM25_DIR}/{name}" for name in BM25_ARRAYS)
    if dense:
        required.update(at + name for name in DENSE_FILES)
    if delta.sentences:
        _expect(delta.sentences.dir, SENTENCES_DIR, "delta's sentences", "dir")
        required.update(f"{at}{SENTENCES_DIR}/{name}" for name in SENTENCE_FILES)
    return required


def _expect(got: str | None, value: str, what: str, key: str) -> None:
    if got is not None and got != value:
        raise BundleError(f"the manifest's {what} section names {key} {got!r}; this bundle format has {value!r}")


def _plain_relative(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel or rel.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))
