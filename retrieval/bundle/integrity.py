"""What a bundle of this format must hold, where its files may be, and the manifest's own checksum.

The manifest lists every file with its size and sha256, but that list cannot vouch for itself:
emptied, it would switch every integrity check off, and an entry such as ``../x`` or
``/etc/hostname`` would send opening outside the bundle. So:

* the files a version must have follow from its declared features (chunk store, dense index,
  sentence index, metadata, delta), not from the list (``required_files``);
* every listed path is a plain relative path that stays inside the bundle, checked before any
  file is touched (``check_file_entries``);
* the manifest carries the sha256 of its own canonical content (``manifest_checksum``), so an
  edited or damaged manifest is refused before anything it says is trusted.
"""

from __future__ import annotations

import hashlib
import json
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

CHECKSUM_KEY = "manifest_sha256"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON (sorted keys, compact), its checksum left out."""
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """Set ``manifest``'s checksum (in place) and return it: the last step before writing it."""
    manifest.pop(CHECKSUM_KEY, None)
    manifest[CHECKSUM_KEY] = manifest_checksum(manifest)
    return manifest


def check_checksum(manifest: dict[str, Any], where: Path) -> None:
    recorded = manifest.get(CHECKSUM_KEY)
    if recorded is None:
        raise BundleError(f"{where} has no {CHECKSUM_KEY}: it was not written by this library or was edited; rebuild the bundle")
    actual = manifest_checksum(manifest)
    if recorded != actual:
        raise BundleError(
            f"{where} fails its checksum ({CHECKSUM_KEY} {str(recorded)[:12]}... but the content hashes to "
            f"{actual[:12]}...): it was edited or damaged after it was written; rebuild the bundle"
        )


def plain_name(name: Any, what: str) -> str:
    """``name`` when it is one directory entry inside the bundle (no separator, not hidden)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise BundleError(f"the manifest names an invalid {what} {name!r}: it must be a directory inside the bundle")
    return name


def check_file_list(root: Path, manifest: dict[str, Any], where: Path) -> dict[str, Any]:
    """The manifest's ``files``, once every path is safe and every file the format requires is in it."""
    files = manifest.get("files")
    check_file_entries(root, files, where)
    try:
        required = required_files(manifest)
    except BundleError as exc:  # a section that contradicts the format
        raise BundleError(f"{where}: {exc}") from None
    unlisted = sorted(required - set(files))
    if unlisted:
        more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
        raise BundleError(f"{where} does not list {unlisted[0]}{more}, which this bundle's format requires; rebuild it")
    return files


def check_file_entries(root: Path, files: Any, where: Path) -> None:
    """Refuse a file list whose paths could leave the bundle or whose entries are malformed.

    Paths are checked as text first (relative, normalised, no ``..``), before anything on disk is
    touched; then a path that resolves outside the bundle (through a symlink) is refused too.
    """
    if not isinstance(files, dict):
        raise BundleError(f"{where} has no file list")
    for rel, meta in files.items():
        if not _plain_relative(rel):
            raise BundleError(f"{where} lists {rel!r}: a file path must be relative and stay inside the bundle")
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("bytes"), int)
            or isinstance(meta.get("bytes"), bool)
            or meta["bytes"] < 0
            or not isinstance(meta.get("sha256"), str)
            or not _SHA256.fullmatch(meta["sha256"])
        ):
            raise BundleError(f"{where} has a malformed entry for {rel}: expected {{\"sha256\": hex, \"bytes\": int}}")
    inside = root.resolve()
    for rel in files:
        target = (root / rel).resolve()
        if target != inside and inside not in target.parents:
            raise BundleError(f"{where} lists {rel}, which leads outside the bundle (to {target})")


def required_files(manifest: dict[str, Any]) -> set[str]:
    """The paths (relative to the bundle root) every version with this manifest's features has."""
    base = manifest.get("base") or ""
    at_base = (plain_name(base, "base directory") + "/") if base else ""
    required = {at_base + DOCUMENTS_FILE, *(f"{at_base}{BM25_DIR}/{name}" for name in BM25_FILES)}
    parquet = _parquet_store(manifest.get("store"))
    if parquet:
        required.add(at_base + CHUNKS_FILE)
    if manifest.get("metadata"):
        _expect(manifest["metadata"], "file", METADATA_FILE, "metadata")
        required.add(at_base + METADATA_FILE)
    dense = bool(manifest.get("dense"))
    if dense:
        required.update(at_base + name for name in DENSE_FILES)
    if manifest.get("sentences"):
        if not dense:
            raise BundleError("the manifest declares a sentence index but no dense index: the bundle is corrupt")
        _expect(manifest["sentences"], "dir", SENTENCES_DIR, "sentences")
        required.update(f"{at_base}{SENTENCES_DIR}/{name}" for name in SENTENCE_FILES)
    delta = manifest.get("delta")
    if delta:
        required |= _delta_files(delta, parquet=parquet, dense=dense, metadata=bool(manifest.get("metadata")))
    return required


def _delta_files(delta: Any, *, parquet: bool, dense: bool, metadata: bool) -> set[str]:
    if not isinstance(delta, dict):
        raise BundleError(f"the manifest's delta section must be an object, got {delta!r:.80}")
    at = plain_name(delta.get("dir"), "delta directory") + "/"
    required = {at + name for name in DELTA_FILES}
    if parquet:
        required.add(at + CHUNKS_FILE)
    if metadata:
        required.add(at + METADATA_FILE)
    chunks = delta.get("chunks")
    if not isinstance(chunks, int) or isinstance(chunks, bool) or chunks < 0:
        raise BundleError(f"the manifest's delta section has an invalid chunk count {chunks!r}")
    if chunks:  # a delta that only deletes has no BM25 segment of its own
        required.update(f"{at}{BM25_DIR}/{name}" for name in BM25_ARRAYS)
    if dense:
        required.update(at + name for name in DENSE_FILES)
    if delta.get("sentences"):
        _expect(delta["sentences"], "dir", SENTENCES_DIR, "delta's sentences")
        required.update(f"{at}{SENTENCES_DIR}/{name}" for name in SENTENCE_FILES)
    return required


def _parquet_store(section: Any) -> bool:
    if section is None:
        return True
    if not isinstance(section, dict):
        raise BundleError(f"the manifest's store section must be an object, got {section!r:.80}")
    kind = section.get("kind", "parquet")
    if kind == "parquet":
        _expect(section, "file", CHUNKS_FILE, "store")
        return True
    return False  # PostgreSQL (or an unknown kind, which opening the store refuses by name)


def _expect(section: Any, key: str, value: str, what: str) -> None:
    if not isinstance(section, dict):
        raise BundleError(f"the manifest's {what} section must be an object, got {section!r:.80}")
    got = section.get(key, value)
    if got != value:
        raise BundleError(f"the manifest's {what} section names {key} {got!r}; this bundle format has {value!r}")


def _plain_relative(rel: Any) -> bool:
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel or rel.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))
