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

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError
from . import defaults
from ._faiss import faiss_metric, import_faiss
from .checks import as_ids, as_vectors, check_unique
from .gpu_device import clone_to_gpu, gpu_available, require_gpu

if TYPE_CHECKING:
    from .base import VectorIndex

GPU_KINDS = ("flat", "ivf", "ivfpq")

__all__ = ["GPU_KINDS", "build_hnsw_with_cagra", "cagra_available", "gpu_available", "to_gpu", "wrap_prefilled"]


def cagra_available() -> bool:
    """Whether CAGRA graph building is available (GPU present and FAISS built with cuVS)."""
    return gpu_available() and hasattr(import_faiss(), "GpuIndexCagra")


def to_gpu(index: VectorIndex, device: int = 0) -> VectorIndex:
    """Give ``index`` a GPU copy for its unfiltered searches; returns the same object.

    Call before serving (not concurrently with searches). ``add`` refreshes the copy.
    """
    if index.kind not in GPU_KINDS or getattr(index, "refine", False):
        raise ConfigError(f"GPU placement supports kinds {', '.join(GPU_KINDS)} (ivfpq without refine), not {index.kind!r}")
    require_gpu()  # before anything else: without a GPU, say how to get one
    index._gpu, index._gpu_device = clone_to_gpu(index._require_built(), device), device
    return index


def build_hnsw_with_cagra(
    vectors: np.ndarray,
    ids: np.ndarray | None = None,
    metric: str = "ip",
    M: int = defaults.HNSW_M,
    ef_search: int = defaults.HNSW_EF_SEARCH,
    device: int = 0,
) -> VectorIndex:
    """An ``hnsw`` index whose base graph was built by CAGRA on the GPU; searched on the CPU."""
    faiss = require_gpu()
    if not hasattr(faiss, "GpuIndexCagra"):
        raise ConfigError("this FAISS build has no CAGRA (GpuIndexCagra); install a cuVS-enabled faiss-gpu")
    x = as_vectors(vectors, np.asarray(vectors).shape[-1], ConfigError, "vectors")
    chunk_ids = np.arange(len(x), dtype=np.int64) if ids is None else as_ids(ids, ConfigError, "ids", len(x))
    check_unique(chunk_ids)
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
