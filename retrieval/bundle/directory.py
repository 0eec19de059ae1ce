"""The index bundle: a directory with a manifest that vouches for every file in it.

Writing goes to a hidden temporary sibling directory that is renamed into place only once every
file and the manifest are on disk, so a crash mid-build never leaves a half bundle under the
final name. Opening checks the manifest's format, version and own checksum, that every file the
format requires is listed and present, that no listed path leaves the bundle, and the size (and,
verifying, the sha256) of every listed file (see ``retrieval.bundle.integrity``).

Updates (``retrieval.updates``) add versions in place: new files go to a new subdirectory, then
``commit_version`` replaces ``manifest.json`` in one ``os.replace``. The manifest names every
file of its version, so a crash before that rename leaves the previous version exactly as it was,
and one after it leaves the new one complete. The previous manifest is kept as
``manifest.prev.json`` and its files are kept until the next commit, so a reader that opened the
previous version a moment before the commit still finds every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

from ..errors import BundleError
from . import manifest as manifest_format
from .integrity import check_file_list
from .layout import LOCK_FILE, MANIFEST, PREVIOUS_MANIFEST
from .manifest import CHECKSUM_KEY, FORMAT, FORMAT_VERSION, FileEntry, Manifest, seal

# Bundles of every version written so far open; the next update of a version-1 bundle writes version 2.
READABLE_VERSIONS = tuple(manifest_format.READERS)
# Top-level entries of a bundle directory that are never garbage: the manifests and the lock.
_KEEP = {MANIFEST, PREVIOUS_MANIFEST, LOCK_FILE}
# Manifest keys that ``new_manifest`` and the writers set: a new version never carries them over.
WRITER_KEYS = ("format", "format_version", "created", "environment", "files", CHECKSUM_KEY)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def environment() -> dict[str, str]:
    import numpy

    from .. import __version__

    return {
        "library_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": numpy.__version__,
    }


@contextlib.contextmanager
def writing(path: str | Path, overwrite: bool = False, manifest_name: str = MANIFEST) -> Iterator[Path]:
    """Yield a temporary directory to fill; on success it becomes ``path`` atomically.

    The caller writes its files and finally calls ``write_manifest(tmp, info)`` (a collection
    writes its own ``manifest_name``). On any exception the temporary directory is removed and
    ``path`` is left as it was.
    """
    from .overwrite import check_replaceable_dir

    final = Path(path)
    if (final.exists() or final.is_symlink()) and not overwrite:
        raise BundleError(f"{final} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    check_replaceable_dir(final)  # only a bundle or an empty directory is ever replaced
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if not (tmp / manifest_name).exists():
            raise BundleError("internal error: bundle written without a manifest")
        _fsync_tree(tmp)
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(directory: Path, info: dict[str, Any]) -> Manifest:
    """Hash every file under ``directory`` and write the manifest last."""
    files = {
        rel: entry for rel, entry in file_entries(directory, directory).items() if rel != MANIFEST
    }
    manifest = new_manifest(info, files)
    (directory / MANIFEST).write_bytes(manifest_bytes(manifest))
    return manifest


def manifest_bytes(manifest: Manifest) -> bytes:
    """``manifest`` as written to disk, its checksum set."""
    return json.dumps(seal(manifest.to_dict()), indent=2, sort_keys=False).encode("utf-8")


def new_manifest(info: dict[str, Any], files: dict[str, FileEntry]) -> Manifest:
    """A new version's manifest: ``info``'s sections, parsed as a reader would (so a writer bug
    that would make an unreadable manifest fails here, before anything is committed)."""
    raw = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": utc_now(),
        "environment": environment(),
        **info,
        "files": {rel: {"sha256": e.sha256, "bytes": e.bytes} for rel, e in files.items()},
    }
    return Manifest.parse(raw)


def utc_now() -> str:
    """The manifest's timestamp format (``created``, ``updated``, ``compacted``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def next_version(old: Manifest, files: dict[str, FileEntry], **changes: Any) -> Manifest:
    """The manifest of the version after ``old``: its sections with ``changes``, the new file
    list, this library's format and environment; the bundle's creation time is kept."""
    info = {k: v for k, v in old.to_dict().items() if k not in WRITER_KEYS}
    info.update({k: manifest_format.dump(v) for k, v in changes.items()})
    return new_manifest(info, files).replace(created=old.created)


def file_entries(root: Path, directory: Path) -> dict[str, FileEntry]:
    """Manifest entries (path relative to ``root`` -> sha256, bytes) of every file under ``directory``."""
    entries = {}
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        entries[file.relative_to(root).as_posix()] = FileEntry(sha256_file(file), file.stat().st_size)
    return entries


@contextlib.contextmanager
def update_lock(root: Path) -> Iterator[None]:
    """Hold the bundle's update lock (one writer at a time, across processes); fail fast if taken.

    An flock dies with its process, so a killed update never leaves the bundle locked.
    """
    read_manifest(root, verify=False)  # a bundle at all (no lock file left in a random directory)
    with hold_lock(root):
        yield


@contextlib.contextmanager
def hold_lock(root: Path) -> Iterator[None]:
    """The flock on ``root``'s lock file (a bundle's or a collection's, checked by the caller)."""
    import fcntl

    from ..errors import UpdateConflictError

    with open(root / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UpdateConflictError(f"another update of {root} is running (it holds {root / LOCK_FILE})") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def new_version_dir(root: Path, prefix: str, version: int) -> Path:
    """A fresh hidden directory inside ``root`` to write a version's new files into."""
    tmp = root / f".{prefix}-{version}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def seal_version_dir(tmp: Path) -> Path:
    """fsync a filled ``new_version_dir`` and give it its final (still unreferenced) name."""
    _fsync_tree(tmp)
    name = tmp.name.lstrip(".").replace(".tmp-", "-", 1)
    final = tmp.parent / name
    os.rename(tmp, final)
    _fsync_dir(tmp.parent)
    return final


def commit_version(root: Path, manifest: Manifest) -> None:
    """Make ``manifest`` the bundle's current version in one atomic rename, then collect garbage.

    Call with the update lock held. Every file the manifest lists must already be on disk.
    """
    current = root / MANIFEST
    previous_text = current.read_bytes()
    _atomic_write(root / PREVIOUS_MANIFEST, previous_text)
    _atomic_write(current, manifest_bytes(manifest))
    collect_garbage(root)


def collect_garbage(root: Path) -> list[str]:
    """Delete top-level entries neither the current nor the previous manifest references.

    Call with the update lock held: any other temporary directory then belongs to a writer that
    died. Returns the names removed.
    """
    keep = set(_KEEP)
    for name in (MANIFEST, PREVIOUS_MANIFEST):
        try:
            files = json.loads((root / name).read_text(encoding="utf-8")).get("files", {})
        except (OSError, ValueError):
            continue
        keep.update(rel.split("/", 1)[0] for rel in files)
    removed = []
    for entry in sorted(root.iterdir()):
        if entry.name in keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def read_manifest(path: str | Path, verify: bool = True, name: str = MANIFEST) -> Manifest:
    """The bundle's manifest, after checking it is ours, of a known version, intact, and that
    every file it lists is there (with its sha256 when ``verify``). ``name``: ``PREVIOUS_MANIFEST``
    reads the previous version (its files are kept until the next commit)."""
    root = Path(path)
    if not root.is_dir():
        hint = _interrupted_overwrite_hint(root)
        raise BundleError(f"no index bundle at {root}{hint}")
    try:
        raw = json.loads((root / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{root} is not an index bundle (no {name})") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{root / name} is unreadable: {exc}") from None
    manifest = manifest_format.read(raw, root / name)
    check_file_list(root, manifest, root / name)  # before any listed path is touched
    for rel, entry in manifest.files.items():
        file = root / rel
        if not file.is_file():
            raise BundleError(f"bundle {root} is incomplete: {rel} is missing")
        if file.stat().st_size != entry.bytes:
            raise BundleError(f"bundle {root} is corrupt: {rel} has the wrong size")
        if verify and sha256_file(file) != entry.sha256:
            raise BundleError(f"bundle {root} is corrupt: {rel} fails its sha256 check")
    return manifest


def _move_into_place(tmp: Path, final: Path) -> None:
    from .overwrite import check_replaceable_dir

    check_replaceable_dir(final)  # again: something may have appeared there during the build
    if not final.exists():
        os.rename(tmp, final)
    else:
        # Directories cannot be swapped in one rename: move the old one aside first, and only
        # delete it once the new one is in place.
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    _fsync_dir(final.parent)


def _remove_abandoned_builds(final: Path) -> None:
    """Delete temporary directories left by builds whose process no longer exists (killed)."""
    for tmp in final.parent.glob(f".{final.name}.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _interrupted_overwrite_hint(root: Path) -> str:
    old = sorted(root.parent.glob(f".{root.name}.old-*")) if root.parent.is_dir() else []
    return f" (an interrupted overwrite left the previous version at {old[0]}: rename it back)" if old else ""


def _fsync_tree(root: Path) -> None:
    for file in root.rglob("*"):
        if file.is_file():
            with open(file, "rb") as f:
                os.fsync(f.fileno())
    for directory in [root, *[d for d in root.rglob("*") if d.is_dir()]]:
        _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
