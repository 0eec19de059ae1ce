"""Build parameters: derived defaults (recorded), validation, seeded reproducibility, threads."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.errors import ConfigError, QueryError
from retrieval.vector import VectorIndex, create_index, get_num_threads, register, set_num_threads
from retrieval.vector import defaults
from tests.unit.vector_support import one_faiss_thread, unit_vectors  # noqa: F401 (fixture)


def _data(n: int, dim: int = 32, seed: int = 3) -> np.ndarray:
    return unit_vectors(n, dim, seed)


@pytest.mark.parametrize(
    ("n", "nlist"),
    [(1_000_000, 4_000), (100_000, 1_265), (10_000, 256), (5_000, 128), (100, 2), (39, 1), (20, 1)],
)
def test_ivf_nlist_rule(n, nlist):
    value, rule = defaults.ivf_nlist(n)
    assert value == nlist and str(n) in rule


def test_ivf_nprobe_rule():
    assert [defaults.ivf_nprobe(nl)[0] for nl in (1, 2, 8, 9, 25, 132, 256, 4_000)] == [1, 2, 8, 8, 13, 29, 40, 159]


@pytest.mark.parametrize(("dim", "m"), [(384, 48), (768, 96), (128, 16), (64, 8), (100, 10), (7, 1), (12, 2)])
def test_pq_m_rule(dim, m):
    value, _ = defaults.pq_m(dim)
    assert value == m and dim % value == 0


@pytest.mark.parametrize(("n_train", "nbits"), [(100_000, 8), (9_984, 8), (9_983, 7), (5_000, 7), (700, 4), (624, 4)])
def test_pq_nbits_rule(n_train, nbits):
    assert defaults.pq_nbits(n_train)[0] == nbits


def test_defaults_are_recorded_and_follow_the_actual_count():
    index = create_index("ivf", 32, n=10_000)
    assert index.describe()["build_params"]["nlist"] == 256  # preview from the hint
    index.build(_data(1_000))
    info = index.describe()
    assert info["build_params"]["nlist"] == 25 and info["build_params"]["nprobe"] == 13
    assert "clamped" in info["derivation"]["nlist"] and "nlist=25" in info["derivation"]["nprobe"]
    assert info["train"] == {"n_train": 1_000, "seed": defaults.DEFAULT_SEED}
    assert info["factory"] == "IDMap2,IVF25,Flat"


def test_given_params_win_and_are_marked_given():
    index = create_index("hnsw", 32, M=8, ef_construction=40, ef_search=20).build(_data(500))
    info = index.describe()
    assert info["build_params"] == {"M": 8, "ef_construction": 40, "ef_search": 20}
    assert all(rule == "given" for rule in info["derivation"].values())
    assert info["search_defaults"] == {"ef_search": 20} and info["factory"] == "IDMap2,HNSW8,Flat"


def test_tiny_collections_fall_back_sensibly():
    x = _data(20)
    ivf = create_index("ivf", 32).build(x)
    assert ivf.describe()["build_params"]["nlist"] == 1 and "single list" in ivf.describe()["derivation"]["nlist"]
    _, ids = ivf.search(x[:3], 25)
    assert (np.sort(ids[:, :20], axis=1) == np.arange(20)).all() and (ids[:, 20:] == -1).all()
    with pytest.raises(ConfigError, match="at least 624 vectors"):
        create_index("ivfpq", 32).build(_data(600))
    small = create_index("ivfpq", 32).build(_data(700))
    assert small.describe()["build_params"]["nbits"] == 4


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("ivf", {"nprobes": 4}),
        ("ivf", {"nlist": 0}),
        ("ivf", {"nlist": "8"}),
        ("hnsw", {"M": 1}),
        ("hnsw", {"efSearch": 10}),
        ("flat", {"nlist": 4}),
        ("ivfpq", {"m": 5}),  # does not divide 32
        ("ivfpq", {"k_factor": 4.0}),  # needs refine=True
        ("ivfpq", {"refine": 1}),
        ("ivfpq", {"nbits": 2}),
    ],
)
def test_invalid_build_params_raise_config_error(kind, params):
    with pytest.raises(ConfigError):
        create_index(kind, 32, **params)


def test_unknown_build_param_error_names_valid_ones():
    with pytest.raises(ConfigError, match="nlist, nprobe, seed"):
        create_index("ivf", 32, nprobes=4)


def test_creation_errors():
    with pytest.raises(ConfigError, match="flat, hnsw, ivf, ivfpq, sq8"):
        create_index("annoy", 32)
    with pytest.raises(ConfigError):
        create_index("flat", 32, metric="cosine")
    with pytest.raises(ConfigError):
        create_index("flat", 0)
    with pytest.raises(ConfigError, match="exceeds nlist"):
        create_index("ivf", 32, nlist=4, nprobe=8).build(_data(500))
    with pytest.raises(ConfigError, match="exceeds the number of vectors"):
        create_index("ivf", 32, nlist=600).build(_data(500))


def test_build_input_validation():
    x = _data(100)
    with pytest.raises(ConfigError, match="duplicate"):
        create_index("flat", 32).build(x, np.r_[np.arange(99), 0])
    with pytest.raises(ConfigError, match="non-negative"):
        create_index("flat", 32).build(x, np.arange(100) - 1)
    with pytest.raises(ConfigError, match="entries for 100 vectors"):
        create_index("flat", 32).build(x, np.arange(99))
    with pytest.raises(ConfigError, match=r"shape \[n, 32\]"):
        create_index("flat", 32).build(x[:, :16])
    with pytest.raises(ConfigError, match="floating point"):
        create_index("flat", 32).build(np.ones((4, 32), dtype=np.int32))
    index = create_index("flat", 32)
    with pytest.raises(QueryError, match="not been built"):
        index.search(x[:1], 1)
    index.build(x)
    with pytest.raises(ConfigError, match="already built"):
        index.build(x)


@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_training_is_seeded_and_reproducible(kind):
    x, q = _data(2_000, seed=11), _data(20, seed=12)
    params = {"nprobe": 2}
    a = create_index(kind, 32, **params).build(x).search(q, 10)
    b = create_index(kind, 32, **params).build(x).search(q, 10)
    c = create_index(kind, 32, seed=99, **params).build(x).search(q, 10)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0]), "a different seed gives a different training result"


@pytest.mark.parametrize(
    ("kind", "params", "faiss_type"),
    [
        ("flat", {}, "IndexFlat"),
        ("hnsw", {}, "IndexHNSWFlat"),
        ("ivf", {}, "IndexIVFFlat"),
        ("ivfpq", {}, "IndexIVFPQ"),
        ("ivfpq", {"refine": True}, "IndexRefineFlat"),
        ("sq8", {}, "IndexScalarQuantizer"),
    ],
)
def test_factory_string_is_valid_faiss(kind, params, faiss_type):
    import faiss

    index = create_index(kind, 32, n=2_000, **params)
    built = faiss.index_factory(32, index.factory_string(), faiss.METRIC_INNER_PRODUCT)
    assert isinstance(built, faiss.IndexIDMap2)
    assert type(faiss.downcast_index(built.index)).__name__ == faiss_type


def test_thread_count_is_set_only_on_request():
    before = get_num_threads()
    try:
        set_num_threads(1)
        assert get_num_threads() == 1
    finally:
        set_num_threads(before)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ConfigError):
            set_num_threads(bad)


def test_create_classmethod_and_query_conversions():
    index = VectorIndex.create("ivf", 32, 2_000, {"nlist": 10})
    assert index.describe()["build_params"]["nlist"] == 10 and index.describe()["derivation"]["nlist"] == "given"
    x = _data(2_000)
    index.build(x)
    s32, i32 = index.search(x[:4], 5)
    s64, i64 = index.search(x[:4].astype(np.float64), 5)  # converted to float32
    np.testing.assert_array_equal(i32, i64)
    hnsw = create_index("hnsw", 32, M=8).build(x)
    _, ids = hnsw.search(x[:4], 20, {"ef_search": 1})  # searched with max(ef_search, k)
    assert (ids >= 0).all()


def test_register_rejects_a_second_class_for_a_kind():
    from retrieval.vector.flat import FlatIndex

    class Impostor(FlatIndex):
        kind = "flat"

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)


def test_memoized_params_still_reject_values_equal_to_valid_ones():
    index = create_index("hnsw", 8, 100).build(unit_vectors(100, 8, 1))
    q = unit_vectors(1, 8, 2)
    index.search(q, 3, {"ef_search": 1})  # valid, now memoized
    for bad in ({"ef_search": True}, {"ef_search": 1.0}):  # == 1, but not integers
        with pytest.raises(QueryError):
            index.search(q, 3, bad)
