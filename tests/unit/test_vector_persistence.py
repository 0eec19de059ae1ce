"""Saving and loading: atomic writes, clear errors for missing/corrupt/foreign files, L2 data."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.bench.vecs import read_fvecs, read_ivecs
from retrieval.errors import BundleError
from retrieval.vector import base as vector_base
from retrieval.vector import create_index, exact_search, load_index, recall_at_k
from retrieval.vector.gpu import wrap_prefilled

from ..conftest import shared_data
from tests.unit.vector_support import one_faiss_thread, unit_vectors  # noqa: F401 (fixture)


def _data(n: int, dim: int = 16, seed: int = 5) -> np.ndarray:
    return unit_vectors(n, dim, seed)


def test_load_errors_are_bundle_errors(tmp_path):
    import faiss

    with pytest.raises(BundleError, match="not found"):
        load_index(tmp_path / "missing.faiss")
    (tmp_path / "junk.faiss").write_bytes(b"not a faiss index at all")
    with pytest.raises(BundleError, match="not a readable FAISS index"):
        load_index(tmp_path / "junk.faiss")
    faiss.write_index(faiss.IndexFlatIP(8), str(tmp_path / "bare.faiss"))
    with pytest.raises(BundleError, match="IDMap2"):
        load_index(tmp_path / "bare.faiss")
    foreign = faiss.IndexIDMap2(faiss.IndexLSH(8, 16))
    faiss.write_index(foreign, str(tmp_path / "lsh.faiss"))
    with pytest.raises(BundleError, match="unsupported inner index type IndexLSH"):
        load_index(tmp_path / "lsh.faiss")
    good = create_index("flat", 16).build(_data(50)).save(tmp_path / "good.faiss")
    (tmp_path / "cut.faiss").write_bytes(good.read_bytes()[:-100])
    with pytest.raises(BundleError):
        load_index(tmp_path / "cut.faiss")


def test_save_replaces_atomically_and_cleans_up_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "vectors.faiss"
    create_index("flat", 16).build(_data(10)).save(path)
    bigger = create_index("flat", 16).build(_data(30))

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(vector_base.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        bigger.save(path)
    monkeypatch.undo()
    assert load_index(path).ntotal == 10, "the old file is untouched by a failed save"
    assert [p.name for p in path.parent.iterdir()] == ["vectors.faiss"], "temp file removed"
    bigger.save(path)
    assert load_index(path).ntotal == 30


def test_hnsw_cagra_form_loads_as_hnsw(tmp_path):
    """The CPU side of the GPU CAGRA path: an IndexHNSWCagra filled in place, given chunk ids by
    ``wrap_prefilled``, saved and loaded, searches as kind ``hnsw`` and stays mutable."""
    import faiss

    x, q = _data(1_000), _data(20, seed=6)
    ids = np.arange(1_000, dtype=np.int64) * 3 + 1
    inner = faiss.IndexHNSWCagra(16, 16, faiss.METRIC_INNER_PRODUCT)
    inner.base_level_only = False
    wrapped = wrap_prefilled(inner, lambda: inner.add(x), ids)
    faiss.write_index(wrapped, str(tmp_path / "cagra.faiss"))
    index = load_index(tmp_path / "cagra.faiss")
    assert index.kind == "hnsw" and index.ntotal == 1_000 and index.describe()["build_params"]["M"] == 16
    _, found = index.search(q, 10, {"ef_search": 64})
    assert recall_at_k(found, exact_search(x, ids, q, 10)[1], 10) >= 0.95  # measured 1.000
    index.add(_data(5, seed=7), np.array([5_000, 5_001, 5_002, 5_003, 5_004]))
    assert index.ntotal == 1_005


def test_l2_metric_on_siftsmall(tmp_path):
    root = shared_data("siftsmall")
    base, query = read_fvecs(root / "siftsmall_base.fvecs"), read_fvecs(root / "siftsmall_query.fvecs")
    truth = read_ivecs(root / "siftsmall_groundtruth.ivecs").astype(np.int64)
    index = create_index("ivf", 128, metric="l2").build(base)  # nlist 256, nprobe 40
    index = load_index(index.save(tmp_path / "sift.faiss"))
    assert index.metric == "l2" and index.describe()["score"].startswith("negative squared L2")
    scores, ids = index.search(query, 10)
    assert (scores <= 0).all()
    assert recall_at_k(ids, truth, 10) >= 0.98  # measured 0.999
    low = recall_at_k(index.search(query, 10, {"nprobe": 1})[1], truth, 10)
    assert low < 0.6  # measured 0.478
