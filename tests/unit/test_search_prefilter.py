import numpy as np
import pytest

from retrieval.config import PrefilterConfig
from retrieval.search.prefilter import exact_topk, prefilter_search
from retrieval.vector import create_index


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(20, 32))
    x = centers[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 32))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    q = x[rng.integers(0, 4000, 30)] + 0.1 * rng.normal(size=(30, 32)).astype(np.float32)
    return x, (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def brute(x, cands, q, k):
    cands = np.unique(cands)
    s = x[cands] @ q
    order = sorted(range(cands.size), key=lambda i: (-s[i], cands[i]))[:k]
    return cands[order], s[order]


def test_exact_topk_equals_brute_force_with_ties(data):
    x, qs = data
    x = x.copy()
    x[100] = x[50]  # an exact tie: the smaller id must come first
    rng = np.random.default_rng(1)
    for q in qs:
        cands = rng.choice(4000, size=300, replace=False)
        cands = np.append(cands, [50, 100])
        ids, scores = exact_topk(x, cands, q, 10)
        want_ids, want_scores = brute(x, cands, q, 10)
        assert ids.tolist() == want_ids.tolist()
        assert np.allclose(scores, want_scores, atol=1e-6)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf", "sq8"])
@pytest.mark.parametrize("n_candidates", [3, 40, 2000])
def test_prefilter_equals_exact_search_over_candidates_and_never_comes_up_short(data, kind, n_candidates):
    x, qs = data
    index = create_index(kind, 32, len(x)).build(x)
    rng = np.random.default_rng(n_candidates)
    for exact_max in (0, 10_000):  # force the index path, then the exact path
        config = PrefilterConfig(candidates=n_candidates, exact_max=exact_max)
        for q in qs[:10]:
            cands = rng.choice(len(x), size=n_candidates, replace=False)
            ids, scores, path = prefilter_search(q, cands, 10, x, index, config)
            assert len(ids) == min(10, n_candidates)
            assert set(ids.tolist()) <= set(cands.tolist())
            want, _ = brute(x, cands, q, 10)
            if path == "exact" or kind == "flat":
                assert ids.tolist() == want.tolist()
            else:  # approximate index over the allowed set: high overlap with exact
                assert len(set(ids.tolist()) & set(want.tolist())) >= min(7, n_candidates)


def test_empty_candidates(data):
    x, qs = data
    index = create_index("flat", 32, len(x)).build(x)
    ids, scores, _ = prefilter_search(qs[0], np.array([], dtype=np.int64), 5, x, index)
    assert ids.size == 0 and scores.size == 0
