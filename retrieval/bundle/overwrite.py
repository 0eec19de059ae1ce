"""What a command may replace: its own output, never a user's files.

``--overwrite`` (and every other place a command writes over an existing path) may replace only
what this library wrote there before: an index bundle whose every top-level entry belongs to it,
an empty directory, or, for a plot, a PNG file. Anything else is refused with a one-line error
before any work starts and left exactly as it was, so a mistyped ``--out`` never deletes a corpus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import BundleError, ConfigError
from .layout import LOCK_FILE, MANIFEST, PREVIOUS_MANIFEST

# Entries a bundle directory holds besides the files its manifests list: the manifests, the
# update lock, and what killed writers leave (hidden temporary directories and sealed version
# directories that were never committed); the next commit deletes the latter.
_BUNDLE_OWN = {MANIFEST, PREVIOUS_MANIFEST, LOCK_FILE}
_WRITER_LEFTOVER = re.compile(r"^(\.[^/]+\.tmp-\d+-[0-9a-f]{8}|(delta|gen)-\d+-\d+-[0-9a-f]{8}|state-\d{6})$")
# A sharded collection (``retrieval.collection``): its manifests, and shard directories as listed.
_COLLECTION_MANIFESTS = ("collection.json", "collection.prev.json")
_BUNDLE_FORMATS = {"retrieval-bundle"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_replaceable_dir(path: str | Path) -> None:
    """Refuse to replace ``path`` unless it is absent, an empty directory, or one of our bundles."""
    target = Path(path)
    if target.is_symlink():
        raise BundleError(f"refusing to overwrite {target}: it is a symbolic link, not a bundle")
    if not target.exists():
        return
    if not target.is_dir():
        raise BundleError(f"refusing to overwrite {target}: it is a file, not a bundle directory")
    entries = {entry.name for entry in target.iterdir()}
    if not entries:
        return
    owned = _bundle_entries(target)
    if owned is None:
        raise BundleError(f"refusing to overwrite {target}: it is a directory but not an index bundle "
                          f"(no readable retrieval manifest); choose another --out or remove it yourself")
    foreign = sorted(name for name in entries - owned if not _WRITER_LEFTOVER.match(name))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise BundleError(f"refusing to overwrite {target}: it holds files that are not part of the bundle "
                          f"({shown}); move them out first")


def check_replaceable_png(path: str | Path) -> None:
    """Refuse to write a plot over anything but a PNG file (a previous plot)."""
    target = Path(path)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise ConfigError(f"refusing to write the plot to {target}: it exists and is not a regular file")
    if target.exists():
        with open(target, "rb") as handle:
            head = handle.read(len(_PNG_MAGIC))
        if head and head != _PNG_MAGIC:
            raise ConfigError(f"refusing to overwrite {target} with a plot: it is not a PNG file")


def _bundle_entries(directory: Path) -> set[str] | None:
    """Top-level names the bundle's manifests account for, or None when it is not our bundle."""
    owned = set(_BUNDLE_OWN)
    found = False
    for name in _COLLECTION_MANIFESTS:
        try:
            manifest = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("format") != "retrieval-collection":
            continue
        found = found or name == _COLLECTION_MANIFESTS[0]
        owned.update(_COLLECTION_MANIFESTS)
        owned.update(str(rel).split("/", 1)[0] for rel in manifest.get("files") or {})
        owned.update(str(s.get("name")) for s in manifest.get("shards") or [] if isinstance(s, dict))
    for name in (MANIFEST, PREVIOUS_MANIFEST):
        try:
            manifest = json.loads((directory / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("format") not in _BUNDLE_FORMATS:
            continue
        found = found or name == MANIFEST
        files = manifest.get("files")
        if isinstance(files, dict):
            owned.update(str(rel).split("/", 1)[0] for rel in files)
    return owned if found else None
