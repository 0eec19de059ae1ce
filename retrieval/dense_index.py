"""The dense half of a bundle: chunk embeddings, their FAISS index, and the embedder's identity.

Files: ``vectors.faiss`` (the index, CPU form) and ``vectors.npy`` (the float32 embeddings,
row == chunk id, memory-mapped at query time for exact scoring of prefilter candidates).
Opening refuses a bundle whose embedder (model, weights, variant) differs from the one this
machine would use for queries: mixing them would silently return garbage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from .bundle.layout import INDEX_FILE, VECTORS_FILE
from .config import EmbeddingConfig, VectorConfig
from .errors import BundleError
from .search import DenseSide

# Chunks embedded per call: long enough for length-sorted batching to pay off, short enough to
# keep memory flat.
WINDOW = 4096
# Fields of the embedder's description that must match between the bundle and the query side.
# Not ``onnx_sha256``: another torch version exports the same weights as other bytes giving the
# same vectors, and a bundle must move between such machines (the manifest checksum catches edits).
IDENTITY = ("model_id", "weights_sha256", "tokenizer_sha256", "variant", "dim", "max_tokens", "fingerprint")


def make_embedder(config: EmbeddingConfig) -> Any:
    from .embedding import Embedder

    return Embedder(
        variant=config.variant,
        intra_op_threads=config.threads or None,
        max_batch=config.batch_size,
        max_batch_tokens=config.max_batch_tokens,
    )


def embed_all(embedder: Any, texts: Iterable[str]) -> np.ndarray:
    """Embeddings of ``texts`` in order, computed a window at a time."""
    parts = [embedder.embed(window) for window in _windows(texts, WINDOW)]
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def index_vectors(directory: Path, vectors: np.ndarray, embedder: Any, config: VectorConfig) -> dict[str, Any]:
    """Build and save the vector index of ``vectors`` (row == chunk id); return the ``dense`` section."""
    from .vector import create_index

    n = len(vectors)
    kind = config.kind
    if kind == "auto":
        kind = "flat" if n <= config.auto_flat_max else "hnsw"
    index = create_index(kind, vectors.shape[1], n, metric="ip", **config.params)
    index.build(vectors, ids=np.arange(n, dtype=np.int64))
    index.save(directory / INDEX_FILE)
    return {
        "embedder": embedder.describe(),
        "vector_index": index.describe(),
        "kind": kind,
        "kind_requested": config.kind,
        "count": n,
        "dim": int(vectors.shape[1]),
        "metric": "ip",
    }


class VectorWriter:
    """Chunk vectors written to ``vectors.npy`` as chunks arrive, then indexed (``close``).

    ``add_text`` embeds texts ``WINDOW`` at a time (the windows ``embed_all`` uses, so the vectors
    are identical to embedding every text at the end); ``add_vector`` takes a chunk's existing
    vector (compaction). Rows go to disk a window at a time; the index is built from the file,
    memory-mapped, so no list of texts or vectors lives for the whole build.
    """

    def __init__(self, directory: Path, embedder: Any, dim: int | None = None) -> None:
        from .bundle.npy import NpyAppender

        self.directory = Path(directory)
        self.embedder = embedder
        self.dim = int(dim if dim is not None else embedder.dim)
        self._out = NpyAppender(self.directory / VECTORS_FILE, np.float32, (self.dim,))
        self._texts: list[str] = []  # waiting for their window's embedding call
        self._rows: list[np.ndarray] = []  # given vectors waiting to be written
        self.embed_seconds = 0.0
        self.index_seconds = 0.0  # writing the last rows and building the index

    def add_text(self, text: str) -> None:
        if self._rows:
            self._write_rows()
        self._texts.append(text)
        if len(self._texts) >= WINDOW:
            self._embed_texts()

    def add_vector(self, vector: Any) -> None:
        if self._texts:
            self._embed_texts()
        self._rows.append(vector)
        if len(self._rows) >= WINDOW:
            self._write_rows()

    def close(self, config: VectorConfig) -> dict[str, Any]:
        """Finish ``vectors.npy`` and build the index over it; return the ``dense`` section."""
        self._embed_texts()
        t0 = time.perf_counter()
        self._write_rows()
        self._out.close()
        vectors = np.load(self.directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
        try:
            return index_vectors(self.directory, vectors, self.embedder, config)
        finally:
            del vectors  # unmapped once the index holds its own copy
            self.index_seconds = time.perf_counter() - t0

    def abort(self) -> None:
        self._texts, self._rows = [], []
        self._out.abort()

    def _embed_texts(self) -> None:
        if self._texts:
            t0 = time.perf_counter()
            self._out.append(self.embedder.embed(self._texts))
            self._texts = []
            self.embed_seconds += time.perf_counter() - t0

    def _write_rows(self) -> None:
        if self._rows:
            self._out.append(np.stack(self._rows))
            self._rows = []


def open_dense(
    directory: Path, section: dict[str, Any], config: EmbeddingConfig, embedder: Any = None, delta_dir: Path | None = None
) -> DenseSide:
    """The dense side of a bundle; ``embedder`` reuses one already loaded (right after a build).

    ``delta_dir``: an updated version's delta, whose vector index holds every vector (base and
    added) and whose ``vectors.npy`` holds the added chunks' rows, read after the base's.
    """
    from .embedding import CachedEmbedder
    from .vector import load_index

    embedder = CachedEmbedder(embedder or make_embedder(config))  # query embeddings are LRU-cached
    _check_same_embedder(section.get("embedder", {}), embedder.describe(), directory)
    index = load_index((delta_dir or directory) / INDEX_FILE)
    vectors: Any = _load_vectors(directory / VECTORS_FILE)
    if delta_dir is not None:
        from .bundle.layers import StackedRows

        vectors = StackedRows(vectors, _load_vectors(delta_dir / VECTORS_FILE))
    if vectors.ndim != 2 or vectors.shape != (section.get("count"), section.get("dim")) or vectors.dtype != np.float32:
        raise BundleError(f"{directory / VECTORS_FILE} does not match the manifest (shape {vectors.shape}, {vectors.dtype})")
    if index.ntotal != vectors.shape[0]:
        raise BundleError(f"{(delta_dir or directory) / INDEX_FILE} holds {index.ntotal} vectors, the bundle {vectors.shape[0]}")
    return DenseSide(embedder=embedder, index=index, vectors=vectors)


def _load_vectors(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from None


def _check_same_embedder(built: dict[str, Any], here: dict[str, Any], directory: Path) -> None:
    different = [key for key in IDENTITY if built.get(key) != here.get(key)]
    if different:
        detail = ", ".join(f"{key}: bundle {built.get(key)!r} vs here {here.get(key)!r}" for key in different)
        raise BundleError(f"{directory} was built with a different embedder ({detail}); rebuild it")


def _windows(texts: Iterable[str], size: int) -> Iterator[list[str]]:
    window: list[str] = []
    for text in texts:
        window.append(text)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window
