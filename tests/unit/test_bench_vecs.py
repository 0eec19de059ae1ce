"""fvecs/ivecs readers: round trips, the real SIFT10K files, and every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.bench.vecs import read_fvecs, read_ivecs, write_vecs
from retrieval.errors import CorpusError

from ..conftest import shared_data


def test_fvecs_round_trip(tmp_path):
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    got = read_fvecs(write_vecs(tmp_path / "x.fvecs", x))
    assert got.dtype == np.float32 and got.shape == (7, 5) and got.flags.c_contiguous
    np.testing.assert_array_equal(got, x)


def test_ivecs_round_trip(tmp_path):
    x = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    got = read_ivecs(write_vecs(tmp_path / "x.ivecs", x))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, x)


def test_hand_written_bytes(tmp_path):
    path = tmp_path / "h.fvecs"
    path.write_bytes(np.array([2], "<i4").tobytes() + np.array([1.5, -2.0], "<f4").tobytes())
    np.testing.assert_array_equal(read_fvecs(path), [[1.5, -2.0]])


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_fvecs(tmp_path / "nope.fvecs")


def test_empty_file(tmp_path):
    (tmp_path / "e.fvecs").write_bytes(b"")
    with pytest.raises(CorpusError, match="e.fvecs"):
        read_fvecs(tmp_path / "e.fvecs")


def test_truncated_file_names_file_and_row(tmp_path):
    path = write_vecs(tmp_path / "t.fvecs", np.ones((4, 8), np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:-6])
    with pytest.raises(CorpusError, match=r"t\.fvecs.*row 3"):
        read_fvecs(path)


def test_truncated_first_row(tmp_path):
    path = tmp_path / "one.ivecs"
    path.write_bytes(np.array([4, 1, 2], "<i4").tobytes())
    with pytest.raises(CorpusError, match="row 0"):
        read_ivecs(path)


def test_mixed_dimensions_name_the_row(tmp_path):
    path = tmp_path / "mixed.ivecs"
    rows = [np.array([3, 1, 2, 3], "<i4"), np.array([3, 4, 5, 6], "<i4"), np.array([2, 7, 8], "<i4"), np.array([3, 1, 1, 1], "<i4")]
    path.write_bytes(b"".join(r.tobytes() for r in rows))
    with pytest.raises(CorpusError, match=r"mixed\.ivecs.*row 2 has dimension 2, expected 3"):
        read_ivecs(path)


def test_mixed_dimensions_same_total_size(tmp_path):
    # a wrong header in a file whose size is still a multiple of the row size
    path = write_vecs(tmp_path / "w.fvecs", np.zeros((3, 4), np.float32))
    raw = np.fromfile(path, "<i4")
    raw[5] = 9
    raw.tofile(path)
    with pytest.raises(CorpusError, match="row 1 has dimension 9"):
        read_fvecs(path)


def test_nonpositive_dimension(tmp_path):
    path = tmp_path / "z.fvecs"
    path.write_bytes(np.array([0, 0], "<i4").tobytes())
    with pytest.raises(CorpusError, match="row 0 has dimension 0"):
        read_fvecs(path)


def test_siftsmall_files():
    base = read_fvecs(shared_data("siftsmall/siftsmall_base.fvecs"))
    gt = read_ivecs(shared_data("siftsmall/siftsmall_groundtruth.ivecs"))
    assert base.shape == (10_000, 128) and base.dtype == np.float32
    assert gt.shape == (100, 100) and gt.min() >= 0 and gt.max() < 10_000
