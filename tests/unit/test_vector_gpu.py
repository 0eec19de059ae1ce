"""GPU placement. CPU-only checks run everywhere; the ``gpu`` tests skip cleanly without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.errors import ConfigError
from retrieval.vector import (
    _faiss,
    available_kinds,
    create_index,
    exact_search,
    gpu_available,
    load_index,
    recall_at_k,
)
from retrieval.vector import gpu as vector_gpu
from tests.unit.vector_support import one_faiss_thread, unit_vectors  # noqa: F401 (fixture)

HAS_GPU = gpu_available()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA GPU visible to FAISS (faiss-cpu build or no device)")
needs_cagra = pytest.mark.skipif(not vector_gpu.cagra_available(), reason="FAISS build without CAGRA (cuVS) or no GPU")

GPU_NAMES = ("Gpu", "StandardGpuResources", "index_cpu_to_gpu", "index_gpu_to_cpu", "get_num_gpus", "cuvs")


def _data(n: int, dim: int = 32, seed: int = 9) -> np.ndarray:
    return unit_vectors(n, dim, seed)


class _Recorder:
    """Stands in for the faiss module and records every attribute looked up on it."""

    def __init__(self, module):
        self._module, self.names = module, set()

    def __getattr__(self, name):
        self.names.add(name)
        return getattr(self._module, name)


def test_cpu_paths_never_touch_gpu_symbols(monkeypatch, tmp_path):
    recorder = _Recorder(_faiss.import_faiss())
    monkeypatch.setattr(_faiss, "_faiss", recorder)
    x = _data(1_000)
    small = {"hnsw": {"M": 8}, "ivfpq": {"refine": True}}  # quick builds of 1,000 vectors
    for kind, params in [(kind, small.get(kind, {})) for kind in available_kinds()]:
        index = create_index(kind, 32, **params).build(x)
        index.search(x[:3], 5, selector_ids=np.arange(100))
        load_index(index.save(tmp_path / f"{kind}.faiss")).search(x[:3], 5)
    touched = sorted(n for n in recorder.names if any(g in n for g in GPU_NAMES))
    assert touched == [], f"CPU-only code looked up GPU symbols: {touched}"
    assert "IndexIVFPQ" in recorder.names  # the recorder did see the CPU work


def test_gpu_available_is_false_without_gpu_support(monkeypatch):
    class NoGpu:
        pass

    monkeypatch.setattr(_faiss, "_faiss", NoGpu())
    assert vector_gpu.gpu_available() is False
    assert vector_gpu.cagra_available() is False


def test_add_reclones_the_gpu_copy_on_its_device(monkeypatch):
    """``add`` changes the CPU form, so an index with a GPU copy re-clones it on the same device
    (checked without a GPU: the clone is recorded, not made)."""
    from retrieval.vector import base as vector_base

    clones = []
    monkeypatch.setattr(vector_base, "clone_to_gpu", lambda cpu, device: clones.append((cpu, device)) or "new copy")
    index = create_index("flat", 32).build(_data(100))
    index.add(_data(5, seed=11), np.arange(100, 105))
    assert clones == []  # no GPU copy: nothing to refresh
    index._gpu, index._gpu_device = "old copy", 3
    index.add(_data(5, seed=12), np.arange(105, 110))
    assert clones == [(index._index, 3)] and index._gpu == "new copy"
    index._gpu = None


@pytest.mark.skipif(HAS_GPU, reason="checks the CPU-only error path")
def test_to_gpu_without_gpu_says_how_to_fix():
    index = create_index("ivf", 32).build(_data(500))
    with pytest.raises(ConfigError, match="faiss-gpu"):
        vector_gpu.to_gpu(index)
    with pytest.raises(ConfigError, match="supports kinds"):
        vector_gpu.to_gpu(create_index("hnsw", 32, M=8).build(_data(200)))


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("kind", ["flat", "ivf", "ivfpq"])
def test_gpu_copy_matches_cpu_and_saves_cpu_form(kind, tmp_path):
    x, q = _data(5_000), _data(50, seed=10)
    index = create_index(kind, 32).build(x)
    cpu_scores, cpu_ids = index.search(q, 10)
    vector_gpu.to_gpu(index)
    assert index.describe()["placement"] == "gpu"
    gpu_scores, gpu_ids = index.search(q, 10)
    assert recall_at_k(gpu_ids, cpu_ids, 10) >= 0.95
    # selectors are served by the CPU form
    _, sel_ids = index.search(q, 10, selector_ids=np.arange(0, 5_000, 3))
    assert np.isin(sel_ids[sel_ids >= 0], np.arange(0, 5_000, 3)).all()
    loaded = load_index(index.save(tmp_path / "v.faiss"))
    assert loaded.describe()["placement"] == "cpu"
    np.testing.assert_array_equal(loaded.search(q, 10)[1], cpu_ids)


@pytest.mark.gpu
@needs_cagra
def test_cagra_build_searches_on_cpu(tmp_path):
    x, q = _data(10_000, dim=64), _data(100, dim=64, seed=11)
    ids = np.arange(10_000, dtype=np.int64) * 2 + 1
    index = vector_gpu.build_hnsw_with_cagra(x, ids, metric="ip", M=16)
    assert index.kind == "hnsw" and index.ntotal == 10_000
    truth = exact_search(x, ids, q, 10)[1]
    assert recall_at_k(index.search(q, 10, {"ef_search": 128})[1], truth, 10) >= 0.9
    loaded = load_index(index.save(tmp_path / "cagra.faiss"))
    assert loaded.kind == "hnsw"
    np.testing.assert_array_equal(loaded.search(q, 10)[1], index.search(q, 10)[1])
    loaded.add(_data(3, dim=64, seed=12), np.array([100_000, 100_001, 100_002]))
    assert loaded.ntotal == 10_003
