"""The index bundle: its layout, its manifest, writing it atomically, and opening a version of it.

Modules, one concept each: ``layout`` (every file name), ``manifest`` (the typed manifest and
its reader per format), ``directory`` (atomic writes, version
commits, garbage collection, reading the manifest), ``integrity`` (the manifest's checksum, the
files the format requires, safe paths), ``overwrite`` (what a command may replace), ``opening``
(a version's parts: chunk store, BM25, vectors, sentences, metadata, live set), ``consistency``
(manifest values checked against the files), ``writer`` (the one writer of a base: build and
compact), ``npy`` (array files written a block at a time), ``documents`` (each document's chunks and content hash), ``delta``, ``layers`` and
``segments`` (reading a base plus its delta), ``view`` (``BundleView``: one opened version, frozen). What changes a
bundle (upsert, delete, sync, compact) is in ``retrieval.updates``.

Importing this package loads no numpy: the names below are the directory functions, and the
modules that open a version are imported where they are used.
"""

from __future__ import annotations

from .directory import (
    FORMAT,
    FORMAT_VERSION,
    READABLE_VERSIONS,
    WRITER_KEYS,
    collect_garbage,
    commit_version,
    environment,
    file_entries,
    manifest_bytes,
    new_manifest,
    new_version_dir,
    next_version,
    read_manifest,
    seal_version_dir,
    sha256_file,
    update_lock,
    utc_now,
    write_manifest,
    writing,
)
from .layout import LOCK_FILE, MANIFEST, PREVIOUS_MANIFEST
from .manifest import Manifest

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LOCK_FILE",
    "MANIFEST",
    "Manifest",
    "PREVIOUS_MANIFEST",
    "READABLE_VERSIONS",
    "WRITER_KEYS",
    "collect_garbage",
    "commit_version",
    "environment",
    "file_entries",
    "manifest_bytes",
    "new_manifest",
    "new_version_dir",
    "next_version",
    "read_manifest",
    "seal_version_dir",
    "sha256_file",
    "update_lock",
    "utc_now",
    "write_manifest",
    "writing",
]
