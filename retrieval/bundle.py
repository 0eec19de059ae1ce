"""The index bundle: a directory with a manifest that vouches for every file in it.

Writing goes to a hidden temporary sibling directory that is renamed into place only once every
file and the manifest are on disk, so a crash mid-build never leaves a half bundle under the
final name. Opening checks the manifest's format and version and the sha256 of every file.
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

from .errors import BundleError

FORMAT = "retrieval-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def environment() -> dict[str, str]:
    import numpy

    from . import __version__

    return {
        "library_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": numpy.__version__,
    }


@contextlib.contextmanager
def writing(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory to fill; on success it becomes ``path`` atomically.

    The caller writes its files and finally calls ``write_manifest(tmp, info)``. On any
    exception the temporary directory is removed and ``path`` is left as it was.
    """
    final = Path(path)
    if final.exists() and not overwrite:
        raise BundleError(f"{final} already exists; pass overwrite=True (CLI: --overwrite) to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(final)
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if not (tmp / MANIFEST).exists():
            raise BundleError("internal error: bundle written without a manifest")
        _fsync_tree(tmp)
        _move_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(directory: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Hash every file under ``directory`` and write the manifest last."""
    files = {}
    for file in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = file.relative_to(directory).as_posix()
        files[rel] = {"sha256": sha256_file(file), "bytes": file.stat().st_size}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": environment(),
        **info,
        "files": files,
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False), encoding="utf-8")
    return manifest


def read_manifest(path: str | Path, verify: bool = True) -> dict[str, Any]:
    """The bundle's manifest, after checking it is ours, of a known version, and intact."""
    root = Path(path)
    if not root.is_dir():
        hint = _interrupted_overwrite_hint(root)
        raise BundleError(f"no index bundle at {root}{hint}")
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{root} is not an index bundle (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{root / MANIFEST} is unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{root} is not a retrieval index bundle (foreign manifest)")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{root} has bundle format version {version}; this library reads version {FORMAT_VERSION}: rebuild it"
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"{root / MANIFEST} has no file list")
    for rel, meta in files.items():
        file = root / rel
        if not file.is_file():
            raise BundleError(f"bundle {root} is incomplete: {rel} is missing")
        if file.stat().st_size != meta.get("bytes"):
            raise BundleError(f"bundle {root} is corrupt: {rel} has the wrong size")
        if verify and sha256_file(file) != meta.get("sha256"):
            raise BundleError(f"bundle {root} is corrupt: {rel} fails its sha256 check")
    return manifest


def _move_into_place(tmp: Path, final: Path) -> None:
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
