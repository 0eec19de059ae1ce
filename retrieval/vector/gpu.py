"""Optional GPU placement. Every GPU symbol is looked up only after ``gpu_available()`` says a
GPU-enabled FAISS build sees a device, so CPU-only installs never touch them.

- ``to_gpu(index)``: keep a GPU copy of a flat/ivf/ivfpq index for unfiltered searches; searches
  with ``selector_ids`` stay on the CPU form (FAISS GPU indexes do not take id selectors). The
  saved file is always the CPU form.
- ``build_hnsw_with_cagra(...)``: build the graph with CAGRA on the GPU, convert it to an
  ``IndexHNSWCagra`` (full hierarchy, so it stays mutable) and search it on the CPU as kind
  ``hnsw``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError
from . import defaults
from ._faiss import faiss_metric, import_faiss
from .base import VectorIndex, _as_ids, _as_vectors, _check_unique

GPU_KINDS = ("flat", "ivf", "ivfpq")


def gpu_available() -> bool:
    """Whether this FAISS build has GPU support and sees at least one device."""
    faiss = import_faiss()
    get_num_gpus = getattr(faiss, "get_num_gpus", None)
    if get_num_gpus is None:
        return False
    try:
        return int(get_num_gpus()) > 0
    except RuntimeError:  # pragma: no cover - driver problems read as "no GPU"
        return False


def cagra_available() -> bool:
    """Whether CAGRA graph building is available (GPU present and FAISS built with cuVS)."""
    return gpu_available() and hasattr(import_faiss(), "GpuIndexCagra")


def _require_gpu() -> Any:
    if not gpu_available():
        raise ConfigError("no CUDA GPU visible to FAISS; install faiss-gpu-cu12 on a GPU machine or search on the CPU")
    return import_faiss()


def to_gpu(index: VectorIndex, device: int = 0) -> VectorIndex:
    """Give ``index`` a GPU copy for its unfiltered searches; returns the same object.

    Call before serving (not concurrently with searches). ``add`` refreshes the copy.
    """
    if index.kind not in GPU_KINDS or getattr(index, "refine", False):
        raise ConfigError(f"GPU placement supports kinds {', '.join(GPU_KINDS)} (ivfpq without refine), not {index.kind!r}")
    faiss = _require_gpu()
    cpu = index._require_built()
    resources = faiss.StandardGpuResources()
    gpu_index = faiss.index_cpu_to_gpu(resources, device, cpu)
    gpu_index.keep_alive = resources  # resources must outlive the GPU index
    index._gpu, index._gpu_device = gpu_index, device
    return index


def refresh_gpu_copy(index: VectorIndex) -> None:
    """Re-clone the GPU copy after the CPU form changed (``add``)."""
    if index._gpu is not None:
        to_gpu(index, getattr(index, "_gpu_device", 0))


def build_hnsw_with_cagra(
    vectors: np.ndarray,
    ids: np.ndarray | None = None,
    metric: str = "ip",
    M: int = defaults.HNSW_M,
    ef_search: int = defaults.HNSW_EF_SEARCH,
    device: int = 0,
) -> VectorIndex:
    """An ``hnsw`` index whose base graph was built by CAGRA on the GPU; searched on the CPU."""
    faiss = _require_gpu()
    if not hasattr(faiss, "GpuIndexCagra"):
        raise ConfigError("this FAISS build has no CAGRA (GpuIndexCagra); install a cuVS-enabled faiss-gpu")
    x = _as_vectors(vectors, np.asarray(vectors).shape[-1], ConfigError, "vectors")
    chunk_ids = np.arange(len(x), dtype=np.int64) if ids is None else _as_ids(ids, ConfigError, "ids", len(x))
    _check_unique(chunk_ids)
    fmetric = faiss_metric(metric)
    config = faiss.GpuIndexCagraConfig()
    config.device = device
    config.graph_degree = 2 * M  # HNSW base layer holds 2*M neighbours
    config.intermediate_graph_degree = 4 * M
    resources = faiss.StandardGpuResources()
    cagra = faiss.GpuIndexCagra(resources, x.shape[1], fmetric, config)
    cagra.train(x)
    cpu = faiss.IndexHNSWCagra(x.shape[1], M, fmetric)
    cpu.base_level_only = False  # build the upper layers too: a regular, mutable HNSW
    cpu.hnsw.efConstruction = defaults.HNSW_EF_CONSTRUCTION
    wrapped = wrap_prefilled(cpu, lambda: cagra.copyTo(cpu), chunk_ids)
    cpu.hnsw.efSearch = ef_search
    from .hnsw import HNSWIndex

    index = HNSWIndex._from_faiss(wrapped, cpu, metric, "CAGRA build")
    index._derivation = {"M": "given (CAGRA graph_degree = 2*M)", "ef_construction": "upper layers only (CAGRA base)",
                         "ef_search": "given" if ef_search != defaults.HNSW_EF_SEARCH else "default"}
    return index


def wrap_prefilled(inner: Any, fill: Any, ids: np.ndarray) -> Any:
    """IDMap2 over ``inner`` that ``fill()`` populates in place (IDMap2 needs an empty index
    at construction); the ids are then attached in order."""
    faiss = import_faiss()
    wrapped = faiss.IndexIDMap2(inner)
    fill()
    if inner.ntotal != len(ids):
        raise ConfigError(f"index holds {inner.ntotal} vectors but {len(ids)} ids were given")
    faiss.copy_array_to_vector(np.ascontiguousarray(ids, dtype=np.int64), wrapped.id_map)
    wrapped.ntotal = inner.ntotal
    wrapped.construct_rev_map()
    return wrapped
