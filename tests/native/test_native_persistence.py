"""arrays() / from_arrays(): zero-copy reopening from memory maps, and clear errors on corruption."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.native import BM25Index

from .helpers import pack, zipf_corpus, zipf_queries

VOCAB = 1_500


@pytest.fixture(scope="module")
def built():
    rng = np.random.default_rng(7)
    docs = [d.tolist() for d in zipf_corpus(rng, 1_200, VOCAB, 30)]
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, VOCAB, variant="okapi", k1=1.2, b=0.7, epsilon=0.3)
    queries = zipf_queries(rng, 40, VOCAB, 8)
    return offsets, tokens, index, queries


def save_and_mmap(arrays, directory):
    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)
    return {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in arrays}


def results(index, queries):
    out = []
    for query in queries:
        for strategy in ("exhaustive", "maxscore"):
            out.append(index.topk(query, 10, strategy))
        out.append((index.scores(query), index.matching(query)))
    return out


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            assert np.array_equal(u, v)


def test_round_trip_through_memory_maps(built, tmp_path):
    _, _, index, queries = built
    arrays = index.arrays()
    assert all(not a.flags.writeable for a in arrays.values())
    mapped = save_and_mmap(arrays, tmp_path)
    assert isinstance(mapped["postings"], np.memmap)
    reopened = BM25Index.from_arrays(mapped, "okapi", 1.2, 0.7, 0.3)
    assert (reopened.n_docs, reopened.vocab_size, reopened.total_postings) == (
        index.n_docs, index.vocab_size, index.total_postings)
    assert reopened.avgdl == index.avgdl and reopened.variant == "okapi"
    assert_same(results(reopened, queries), results(index, queries))
    # Zero copy: the reopened index serves the memory-mapped bytes themselves.
    again = reopened.arrays()
    assert np.shares_memory(again["postings"], mapped["postings"])
    for name in arrays:
        assert np.array_equal(again[name], arrays[name])
    del mapped, again
    assert reopened.topk(queries[0], 3)[0].size > 0  # still alive after our references are gone


@pytest.mark.parametrize("variant,k1,b,epsilon", [("lucene", 1.2, 0.7, 0.3), ("okapi", 0.9, 0.4, 0.3)])
def test_reopen_with_other_parameters_equals_a_fresh_build(built, tmp_path, variant, k1, b, epsilon):
    offsets, tokens, index, queries = built
    reopened = BM25Index.from_arrays(save_and_mmap(index.arrays(), tmp_path), variant, k1, b, epsilon)
    fresh = BM25Index.build(offsets, tokens, VOCAB, variant=variant, k1=k1, b=b, epsilon=epsilon)
    assert_same(results(reopened, queries), results(fresh, queries))
    assert reopened.arrays()["params"].tolist() == fresh.arrays()["params"].tolist()


def doctor(arrays, name, value):
    out = {k: np.array(v) for k, v in arrays.items()}
    out[name] = value
    return out


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda a: doctor(a, "postings", a["postings"][:-1]), "truncated"),
        (lambda a: doctor(a, "df", a["df"].astype(np.int64)), "df"),
        (lambda a: doctor(a, "block_offsets", a["block_offsets"][::-1].copy()), "block_offsets"),
        (lambda a: doctor(a, "term_blocks", np.sort(a["term_blocks"])[::-1].copy()), "term_blocks"),
        (lambda a: doctor(a, "block_last_doc", a["block_last_doc"] + np.uint32(5_000)), "block_last_doc"),
        (lambda a: doctor(a, "doc_lengths", a["doc_lengths"][:-1]), "doc_lengths"),
        (lambda a: doctor(a, "idf", a["idf"][:10]), "idf"),
        (lambda a: doctor(a, "meta", np.array([99, 128, 0, 0], dtype=np.uint64)), "version"),
        (lambda a: doctor(a, "params", np.array([3.0, 1.2, 0.7, 0.3])), "params"),
        (lambda a: doctor(a, "postings", a["postings"].reshape(1, -1)), "1-D"),
        (lambda a: {k: v for k, v in a.items() if k != "block_max"}, "missing array 'block_max'"),
    ],
)
def test_corrupt_array_sets_raise_value_error(built, change, message):
    _, _, index, _ = built
    with pytest.raises(ValueError, match=message):
        BM25Index.from_arrays(change(index.arrays()), "okapi", 1.2, 0.7, 0.3)


def test_from_arrays_needs_a_dict(built):
    with pytest.raises(TypeError, match="dict"):
        BM25Index.from_arrays(list(built[2].arrays().values()), "okapi", 1.2, 0.7, 0.3)


def test_corrupt_postings_bytes_never_crash(built):
    """Random byte damage is caught when a block is decoded (ValueError), never read out of bounds."""
    _, _, index, queries = built
    rng = np.random.default_rng(3)
    arrays = {k: np.array(v) for k, v in index.arrays().items()}
    clean = arrays["postings"].copy()
    caught = 0
    for _ in range(60):
        damaged = clean.copy()
        where = rng.integers(0, len(damaged), size=4)
        damaged[where] = rng.integers(0, 256, size=4, dtype=np.uint8)
        arrays["postings"] = damaged
        reopened = BM25Index.from_arrays(arrays, "okapi", 1.2, 0.7, 0.3)
        try:
            for query in queries[:5]:
                reopened.topk(query, 10, "maxscore")
                reopened.matching(query)
            reopened.scores(np.arange(VOCAB, dtype=np.uint32))  # decodes every block
        except ValueError as exc:
            assert "corrupt BM25 postings" in str(exc)
            caught += 1
    assert caught >= 50, caught  # measured: 60 of 60 damaged sets detected


def test_worker_thread_errors_reach_python(built):
    """A corrupt block hit inside topk_batch's worker threads surfaces as ValueError."""
    _, _, index, queries = built
    arrays = {k: np.array(v) for k, v in index.arrays().items()}
    term = int(np.argmax(arrays["df"]))  # the most common term: every query batch decodes it
    first_block = int(arrays["term_blocks"][term])
    start, end = arrays["block_offsets"][first_block : first_block + 2]
    arrays["postings"][start:end] = 0  # gaps of 0: "doc ids not increasing"
    damaged = BM25Index.from_arrays(arrays, "okapi", 1.2, 0.7, 0.3)
    queries = [np.append(x, np.uint32(term)) for x in queries]
    offsets = np.zeros(len(queries) + 1, dtype=np.uint64)
    np.cumsum([len(x) for x in queries], out=offsets[1:])
    tokens = np.concatenate(queries).astype(np.uint32)
    for strategy in ("exhaustive", "maxscore"):
        with pytest.raises(ValueError, match=f"corrupt BM25 postings \\(term {term}, block {first_block}\\)"):
            damaged.topk_batch(offsets, tokens, 10, n_threads=2, strategy=strategy)
    # The same index still answers queries that avoid the damaged block.
    index_ids = index.topk(queries[0][:-1], 5, "exhaustive")[0]
    if term not in queries[0][:-1]:
        assert np.array_equal(damaged.topk(queries[0][:-1], 5, "exhaustive")[0], index_ids)
