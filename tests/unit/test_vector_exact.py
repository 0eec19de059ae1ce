"""The slow references: numpy exact search against FAISS flat, and recall@k on hand cases."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.bench.vecs import read_fvecs, read_ivecs
from retrieval.errors import QueryError
from retrieval.vector import create_index, exact_search, recall_at_k

from ..conftest import shared_data
from tests.unit.vector_support import one_faiss_thread  # noqa: F401 (fixture)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_exact_search_equals_faiss_flat(metric):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2_000, 48)).astype(np.float32)
    q = rng.standard_normal((64, 48)).astype(np.float32)
    ids = rng.permutation(10_000)[:2_000].astype(np.int64)
    ref_s, ref_i = exact_search(x, ids, q, 15, metric)
    got_s, got_i = create_index("flat", 48, metric=metric).build(x, ids).search(q, 15)
    np.testing.assert_array_equal(got_i, ref_i)
    np.testing.assert_allclose(got_s, ref_s, rtol=1e-4, atol=1e-3)
    if metric == "l2":
        assert (ref_s <= 0).all(), "l2 scores are negative squared distances"


def test_exact_search_small_collection_pads_and_breaks_ties_by_id():
    x = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    s, i = exact_search(x, np.array([30, 20, 10]), np.array([[1, 0]], dtype=np.float32), 5, "ip")
    assert i.tolist() == [[10, 30, 20, -1, -1]]  # tie between 30 and 10 -> smaller id first
    assert s[0, :3].tolist() == [1.0, 1.0, 0.0] and np.isneginf(s[0, 3:]).all()


def test_exact_search_rejects_bad_input():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(QueryError):
        exact_search(x, None, np.zeros((1, 5), np.float32), 1)
    with pytest.raises(QueryError):
        exact_search(x, None, np.zeros((1, 4), np.float32), 1, "cosine")
    with pytest.raises(QueryError):
        exact_search(x, np.arange(2), np.zeros((1, 4), np.float32), 1)


def test_recall_hand_cases():
    true = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(true, true, 4) == 1.0
    assert recall_at_k(np.array([[1, 2, 9, 9], [8, 7, 0, 0]]), true, 4) == pytest.approx((2 / 4 + 2 / 4) / 2)
    assert recall_at_k(np.array([[4, 3, 2, 1], [0, 0, 0, 0]]), true, 2) == pytest.approx((0 + 0) / 2)
    assert recall_at_k(np.array([[2, 1, 0, 0], [6, 0, 0, 0]]), true, 2) == pytest.approx((1 + 0.5) / 2)
    # -1 padding in the truth: only the real neighbours count; padding in results never matches
    assert recall_at_k(np.array([[1, -1, -1]]), np.array([[1, -1, -1]]), 3) == 1.0
    assert recall_at_k(np.array([[-1, -1]]), np.array([[-1, -1]]), 2) == 1.0
    assert recall_at_k(np.array([[-1, 3]]), np.array([[2, 3]]), 2) == 0.5
    with pytest.raises(QueryError):
        recall_at_k(true[:1], true, 2)
    with pytest.raises(QueryError):
        recall_at_k(true, true, 0)


def test_exact_search_matches_siftsmall_ground_truth():
    """L2 on real SIFT vectors: our reference reproduces the published top-100 ground truth."""
    root = shared_data("siftsmall")
    base, query = read_fvecs(root / "siftsmall_base.fvecs"), read_fvecs(root / "siftsmall_query.fvecs")
    truth = read_ivecs(root / "siftsmall_groundtruth.ivecs").astype(np.int64)
    _, ids = exact_search(base, None, query, 10, "l2")
    assert recall_at_k(ids, truth, 10) >= 0.999  # measured 1.000 (ties may reorder the tail)
