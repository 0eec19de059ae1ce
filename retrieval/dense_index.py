"""The dense half of a bundle: chunk embeddings, their FAISS index, and the embedder's identity.

Files: ``vectors.faiss`` (the index, CPU form) and ``vectors.npy`` (the float32 embeddings,
row == chunk id, memory-mapped at query time for exact scoring of prefilter candidates).
Opening refuses a bundle whose embedder (model, weights, variant) differs from the one this
machine would use for queries: mixing them would silently return garbage.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .bundle.layout import INDEX_FILE, VECTORS_FILE
from .config import EmbeddingConfig, VectorConfig
from .errors import BundleError, ConfigError
from .search import DenseSide

# Chunks embedded per call: long enough for length-sorted batching to pay off, short enough to
# keep memory flat.
WINDOW = 4096
# Fields of the embedder's description that must match between the bundle and the query side.
# Not ``onnx_sha256``: another torch version exports the same weights as other bytes giving the
# same vectors, and a bundle must move between such machines (the manifest checksum catches edits).
IDENTITY = ("model_id", "weights_sha256", "tokenizer_sha256", "variant", "dim", "max_tokens", "fingerprint")


def make_embedder(config: EmbeddingConfig, dim: int | None = None) -> Any:
    """The embedder ``config`` names (``embedding.model``): see ``retrieval.embedding.from_config``."""
    from .embedding import from_config

    return from_config(config, dim)


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

    ``add_vectors`` takes a window's embeddings (a build: ``context.chunk_vectors``);
    ``add_vector`` one chunk's existing vector (compaction: nothing is re-embedded). Rows go to
    disk a window at a time; the index is built from the file, memory-mapped, so no list of
    vectors lives for the whole build.
    """

    def __init__(self, directory: Path, embedder: Any, dim: int | None = None) -> None:
        from .bundle.npy import NpyAppender

        self.directory = Path(directory)
        self.embedder = embedder
        self.dim = int(dim if dim is not None else embedder.dim)
        self._out = NpyAppender(self.directory / VECTORS_FILE, np.float32, (self.dim,))
        self._rows: list[np.ndarray] = []  # given vectors waiting to be written
        self.index_seconds = 0.0  # writing the last rows and building the index

    def add_vectors(self, vectors: np.ndarray) -> None:
        self._write_rows()
        if len(vectors):
            self._out.append(np.asarray(vectors, dtype=np.float32))

    def add_vector(self, vector: Any) -> None:
        self._rows.append(vector)
        if len(self._rows) >= WINDOW:
            self._write_rows()

    def close(self, config: VectorConfig) -> dict[str, Any]:
        """Finish ``vectors.npy`` and build the index over it; return the ``dense`` section."""
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
        self._rows = []
        self._out.abort()

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

    if embedder is None:
        try:
            embedder = make_embedder(config, section.get("dim"))
        except ConfigError as exc:  # e.g. the model directory it was built with is not on this machine
            raise BundleError(f"{directory} was built with the embedder {config.model!r}, which cannot be loaded here: {exc}") from None
    embedder = CachedEmbedder(embedder)  # query embeddings are LRU-cached
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
        detail = ", ".join(f"{key}: bundle {built.get(key)!r} vs here {here.get(key)!r}" for key in different if key != "fingerprint")
        raise BundleError(
            f"{directory} was built with the embedder {_name(built)} but the one here is {_name(here)} "
            f"({detail or 'prompts, pooling or normalisation differ'}); open it with the embedder it was built with, or rebuild it"
        )


def _name(description: dict[str, Any]) -> str:
    """An embedder as a person tells it apart: its model, variant and weights (or endpoint)."""
    where = description.get("weights_sha256") or description.get("endpoint") or ""
    return f"{description.get('model_id')!r} ({description.get('variant')}{', ' + str(where)[:12] if where else ''})"
