import numpy as np
import pytest

from retrieval.errors import ConfigError
from retrieval.search.fusion import FusionConfig, fuse

KW = (np.array([10, 20, 30]), np.array([9.0, 6.0, 3.0]))
DE = (np.array([30, 40]), np.array([0.8, 0.4]))


def test_rrf_by_hand():
    ids, scores = fuse(KW, DE, k=10, config=FusionConfig(method="rrf", rrf_k=60))
    expected = {
        10: 0.5 / 61,
        20: 0.5 / 62,
        30: 0.5 / 63 + 0.5 / 61,
        40: 0.5 / 62,
    }
    assert ids.tolist() == [30, 10, 20, 40]  # 20 and 40 tie: smaller id first
    assert np.allclose(scores, [expected[i] for i in ids.tolist()], rtol=0, atol=1e-15)


def test_weighted_rrf_by_hand():
    ids, scores = fuse(KW, DE, k=2, config=FusionConfig(method="rrf", rrf_k=0, keyword_weight=1.0, dense_weight=0.25))
    # 10: 1/1 = 1; 30: 1/3 + 0.25/1 = 0.5833; 20: 1/2 = 0.5; 40: 0.25/2 = 0.125
    assert ids.tolist() == [10, 30]
    assert np.allclose(scores, [1.0, 1 / 3 + 0.25])


def test_convex_minmax_by_hand():
    ids, scores = fuse(KW, DE, k=10, config=FusionConfig(method="convex", normalization="minmax", dense_weight=0.7))
    # keyword minmax: 10→1, 20→0.5, 30→0; dense minmax: 30→1, 40→0; missing side counts 0.
    expected = {10: 0.3 * 1, 20: 0.3 * 0.5, 30: 0.3 * 0 + 0.7 * 1, 40: 0.7 * 0}
    assert ids.tolist() == [30, 10, 20, 40]
    assert np.allclose(scores, [expected[i] for i in ids.tolist()])


def test_convex_zscore_by_hand():
    ids, scores = fuse(KW, DE, k=10, config=FusionConfig(method="convex", normalization="zscore", dense_weight=0.5))
    kz = (np.array([9.0, 6.0, 3.0]) - 6.0) / np.std([9.0, 6.0, 3.0])  # [1.2247, 0, -1.2247]
    dz = np.array([1.0, -1.0])
    expected = {
        10: 0.5 * kz[0] + 0.5 * dz.min(),
        20: 0.5 * kz[1] + 0.5 * dz.min(),
        30: 0.5 * kz[2] + 0.5 * dz[0],
        40: 0.5 * kz.min() + 0.5 * dz[1],
    }
    order = sorted(expected, key=lambda i: (-expected[i], i))
    assert ids.tolist() == order
    assert np.allclose(scores, [expected[i] for i in order])


def test_one_side_empty_and_padding():
    ids, _ = fuse(KW, (np.array([-1, -1]), np.array([-np.inf, -np.inf])), k=2)
    assert ids.tolist() == [10, 20]
    ids, _ = fuse((np.array([], dtype=np.int64), np.array([])), DE, k=5, config=FusionConfig(method="rrf"))
    assert ids.tolist() == [30, 40]
    ids, scores = fuse((np.array([5]), np.array([2.0])), (np.array([5]), np.array([2.0])), k=3)
    assert ids.tolist() == [5] and scores.tolist() == [1.0]


def test_config_validation():
    with pytest.raises(ConfigError, match="fusion.method"):
        FusionConfig(method="max")
    with pytest.raises(ConfigError, match="fusion.normalization"):
        FusionConfig(normalization="l2")
    with pytest.raises(ConfigError, match="weights"):
        FusionConfig(dense_weight=1.5)
