"""Whether FAISS sees a GPU, and the GPU copy of a CPU FAISS index.

The pieces of GPU placement that ``VectorIndex`` itself needs (``add`` re-clones its GPU copy),
kept apart from ``gpu.py`` so that the index base class and the GPU builders (which create
``hnsw`` indexes) do not import each other. Every GPU symbol is looked up only after
``gpu_available()`` says a GPU-enabled FAISS build sees a device.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ._faiss import import_faiss


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


def require_gpu() -> Any:
    """The faiss module, or ConfigError saying how to get a GPU build."""
    if not gpu_available():
        raise ConfigError("no CUDA GPU visible to FAISS; install faiss-gpu-cu12 on a GPU machine or search on the CPU")
    return import_faiss()


def clone_to_gpu(cpu_index: Any, device: int) -> Any:
    """A GPU copy of the FAISS index ``cpu_index`` on ``device``, owning its GPU resources."""
    faiss = require_gpu()
    resources = faiss.StandardGpuResources()
    gpu_index = faiss.index_cpu_to_gpu(resources, device, cpu_index)
    gpu_index.keep_alive = resources  # resources must outlive the GPU index
    return gpu_index
