"""Shared by the vector tests: FAISS pinned to one thread, and seeded unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.vector import get_num_threads, set_num_threads


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """Run FAISS single-threaded: on a busy 2-core machine its OpenMP teams spin against other
    processes (measured: an ivfpq build of 5,183 x 384 took 33 s with 2 threads, 2.8 s with 1)."""
    before = get_num_threads()
    set_num_threads(1)
    yield
    set_num_threads(before)


def unit_vectors(n: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)
