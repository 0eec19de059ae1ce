"""Dense vector indexes over chunk ids (FAISS): flat, hnsw, ivf, ivfpq, sq8.

Importing this package does not import FAISS; the first index created or loaded does.

    index = create_index("hnsw", dim=384, n=len(vectors))
    index.build(vectors, ids)
    scores, ids = index.search(queries, k=10, params={"ef_search": 128})
"""

from ._faiss import get_num_threads, set_num_threads
from .base import VectorIndex
from .exact import exact_search, recall_at_k
from .gpu import gpu_available
from .params import ParamSpec
from .registry import available_kinds, create_index, load_index, register

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
    "set_num_threads",
]
