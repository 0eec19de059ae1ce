"""Dense vector indexes over chunk ids (FAISS): flat, hnsw, ivf, ivfpq, sq8.

Importing this package imports neither FAISS nor numpy (the command line reads the registry's
kind names while parsing); each name below loads its module on first use, and FAISS itself loads
when the first index is created or loaded.

    index = create_index("hnsw", dim=384, n=len(vectors))
    index.build(vectors, ids)
    scores, ids = index.search(queries, k=10, params={"ef_search": 128})
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_getattr

if TYPE_CHECKING:
    from ._faiss import get_num_threads, set_num_threads
    from .base import VectorIndex
    from .exact import exact_search, recall_at_k
    from .gpu_device import gpu_available
    from .params import ParamSpec
    from .registry import available_kinds, create_index, load_index, register, register_path

# public name -> the submodule that defines it
_LAZY = {
    "ParamSpec": ".params",
    "VectorIndex": ".base",
    "available_kinds": ".registry",
    "create_index": ".registry",
    "exact_search": ".exact",
    "get_num_threads": "._faiss",
    "gpu_available": ".gpu_device",
    "load_index": ".registry",
    "recall_at_k": ".exact",
    "register": ".registry",
    "register_path": ".registry",
    "set_num_threads": "._faiss",
}

__all__ = [
    "ParamSpec",
    "VectorIndex",
    "available_kinds",
    "create_index",
    "exact_search",
    "get_num_threads",
    "gpu_available",
    "load_index",
    "recall_at_k",
    "register",
    "register_path",
    "set_num_threads",
]


__getattr__ = lazy_getattr(__name__, _LAZY)
