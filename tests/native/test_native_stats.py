"""from_arrays(stats=...): a segment scoring with the statistics of a larger live corpus.

Incremental updates keep a base segment and a small delta segment and mark deleted documents;
opened with the live corpus's statistics (base + delta - deleted), each segment must score every
live document exactly as one fresh index over the live documents does.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.keyword.variants import variant_names
from retrieval.native import BM25Index, bm25_scores_reference, topk_reference

from .helpers import build, pack, q, zipf_corpus, zipf_queries

STRATEGIES = ("exhaustive", "maxscore", "auto")
PARAMS = [
    {"variant": "lucene"},
    {"variant": "lucene", "k1": 0.9, "b": 0.4},
    {"variant": "okapi"},
    {"variant": "okapi", "k1": 1.2, "b": 1.0, "epsilon": -0.3},  # a negative idf floor
]


def live_stats(live_docs, vocab_size):
    """The statistics of one index over `live_docs`, with term ids < vocab_size."""
    df = np.zeros(vocab_size, dtype=np.uint32)
    for doc in live_docs:
        df[list(set(doc))] += 1
    return {"n_docs": len(live_docs), "total_tokens": sum(len(d) for d in live_docs), "df": df}


def random_segments(seed):
    """(base docs, delta docs, V_base, V_global, base deleted mask, delta deleted mask).

    Base docs use ids < V_base, delta docs any id < V_global. Term 0 is in ~70% of all docs (okapi's
    negative idf, and lists of several 128-posting blocks); a few ids >= V_base are in deleted docs
    only, and the last ones in no doc at all (df 0 in the corpus).
    """
    rng = np.random.default_rng(seed)
    v_base = int(rng.integers(20, 60))
    v_global = v_base + int(rng.integers(8, 20))
    n_base, n_delta = int(rng.integers(300, 700)), int(rng.integers(40, 200))

    def docs(n, vocab):
        out = []
        for d in zipf_corpus(rng, n, vocab - 1, int(rng.integers(5, 25))):
            doc = (d + 1).tolist()  # ids 1..vocab-1; term 0 added below
            if rng.random() < 0.7:
                doc.insert(int(rng.integers(0, len(doc) + 1)), 0)
            out.append(doc)
        return out

    base = docs(n_base, v_base)
    delta = docs(n_delta, v_global - 3)  # v_global-3 .. v_global-1 never occur
    base_deleted = rng.random(n_base) < 0.2
    delta_deleted = rng.random(n_delta) < 0.25
    only_deleted = v_global - 4  # an id only deleted delta docs hold
    for i in np.flatnonzero(delta_deleted)[:5]:
        delta[i].append(only_deleted)
    for i in np.flatnonzero(~delta_deleted):
        delta[i] = [t for t in delta[i] if t != only_deleted]
    return base, delta, v_base, v_global, base_deleted, delta_deleted


def queries_for(seed, v_base, v_global):
    rng = np.random.default_rng(seed + 1000)
    out = [list(x) for x in zipf_queries(rng, 25, v_global, 5)]
    out += [
        [0],
        [0, 0, 1],  # repeated terms count once per occurrence
        list(range(v_base, v_global)),  # only new terms (the base sees an empty query)
        [v_global - 4, 0],  # a term held by deleted docs only
        [v_global - 1, 2, v_base],
    ]
    return out


def open_segment(index, stats, **params):
    segment = BM25Index.from_arrays(index.arrays(), stats=stats, **params)
    assert segment.has_stats and not index.has_stats
    return segment


def check_segments(base, delta, v_base, v_global, base_deleted, delta_deleted, queries, params, ks=(1, 10)):
    base_live = np.flatnonzero(~base_deleted)
    delta_live = np.flatnonzero(~delta_deleted)
    live_docs = [base[i] for i in base_live] + [delta[i] for i in delta_live]
    stats = live_stats(live_docs, v_global)
    # Same global ids as the segments: compute_idf sees the very same df array, so even okapi's
    # epsilon average is summed in the same order and every score is bit-identical.
    fresh = build(live_docs, v_global, **params)
    base_seg = open_segment(build(base, v_base, **params), stats, **params)
    delta_seg = open_segment(build(delta, v_global, **params), stats, **params)
    assert base_seg.avgdl == fresh.avgdl and delta_seg.avgdl == fresh.avgdl
    assert base_seg.n_docs == len(base) and delta_seg.n_docs == len(delta)

    for query in queries:
        base_query = [t for t in query if t < v_base]
        want = fresh.scores(q(query))
        got_base = base_seg.scores(q(base_query))
        got_delta = delta_seg.scores(q(query))
        np.testing.assert_array_equal(got_base[base_live], want[: len(base_live)])
        np.testing.assert_array_equal(got_delta[delta_live], want[len(base_live) :])
        # Deleted docs too score as the numpy reference does with these statistics.
        np.testing.assert_array_equal(got_base, bm25_scores_reference(base, base_query, **params, stats=stats))
        np.testing.assert_array_equal(got_delta, bm25_scores_reference(delta, query, **params, stats=stats))

        # Block maxima were recomputed with the new idf and norms: MaxScore stays exact.
        for segment, seg_query, scores in ((base_seg, base_query, got_base), (delta_seg, query, got_delta)):
            mask = np.zeros(segment.n_docs, dtype=bool)
            mask[segment.matching(q(seg_query))] = True
            for k in (*ks, segment.n_docs + 1):
                want_ids, want_scores = topk_reference(scores, mask, k)
                for strategy in STRATEGIES:
                    ids, top = segment.topk(q(seg_query), k, strategy)
                    np.testing.assert_array_equal(ids, want_ids, err_msg=strategy)
                    np.testing.assert_array_equal(top, want_scores, err_msg=strategy)


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "-".join(f"{v}" for v in p.values()))
@pytest.mark.parametrize("seed", range(4))
def test_segments_score_like_a_fresh_index_over_live_docs(seed, params):
    base, delta, v_base, v_global, base_deleted, delta_deleted = random_segments(seed)
    queries = queries_for(seed, v_base, v_global)
    check_segments(base, delta, v_base, v_global, base_deleted, delta_deleted, queries, params)


@pytest.mark.parametrize("params", [{"variant": v} for v in variant_names()], ids=variant_names())
def test_first_occurrence_fresh_index_agrees_within_rounding(params):
    """A fresh index numbered in its own first-occurrence order (how retrieval.keyword numbers a
    rebuilt corpus) sums okapi's idf average in another order: equal up to the last bits."""
    base, delta, v_base, v_global, base_deleted, delta_deleted = random_segments(11)
    live_docs = [d for d, x in zip(base, base_deleted) if not x] + [d for d, x in zip(delta, delta_deleted) if not x]
    stats = live_stats(live_docs, v_global)
    mapping: dict[int, int] = {}
    renumbered = [[mapping.setdefault(t, len(mapping)) for t in d] for d in live_docs]
    fresh = build(renumbered, len(mapping), **params)
    delta_seg = open_segment(build(delta, v_global, **params), stats, **params)
    for query in queries_for(11, v_base, v_global):
        want = fresh.scores(q([mapping[t] for t in query if t in mapping]))
        got = delta_seg.scores(q(query))[np.flatnonzero(~delta_deleted)]
        np.testing.assert_allclose(got, want[len(live_docs) - len(got) :], rtol=1e-12, atol=0)


@st.composite
def segment_cases(draw):
    v_base = draw(st.integers(1, 8))
    v_global = v_base + draw(st.integers(0, 4))
    doc = st.lists(st.integers(0, v_base - 1), max_size=8)
    base = draw(st.lists(doc, max_size=25))
    delta = draw(st.lists(st.lists(st.integers(0, v_global - 1), max_size=8), max_size=10))
    base_deleted = np.array(draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base))), dtype=bool)
    delta_deleted = np.array(draw(st.lists(st.booleans(), min_size=len(delta), max_size=len(delta))), dtype=bool)
    queries = draw(st.lists(st.lists(st.integers(0, v_global - 1), max_size=6), min_size=1, max_size=3))
    params = {
        "variant": draw(st.sampled_from(variant_names())),
        "k1": draw(st.floats(0.0, 3.0)),
        "b": draw(st.floats(0.0, 1.0)),
        "epsilon": draw(st.floats(-0.5, 1.0)),
    }
    return base, delta, v_base, v_global, base_deleted, delta_deleted, queries, params


@settings(max_examples=300, derandomize=True, deadline=None)
@given(segment_cases())
def test_small_segments_score_like_a_fresh_index(case):
    """Edge cases: empty segments and documents, everything deleted, all live docs empty."""
    check_segments(*case, ks=(1, 3))


def test_own_stats_give_bit_identical_results():
    rng = np.random.default_rng(3)
    vocab = 800
    docs = [d.tolist() for d in zipf_corpus(rng, 900, vocab, 25)]
    queries = zipf_queries(rng, 30, vocab, 6)
    for params in PARAMS:
        index = build(docs, vocab, **params)
        arrays = index.arrays()
        own = {"n_docs": index.n_docs, "total_tokens": index.total_tokens, "df": np.array(arrays["df"])}
        segment = BM25Index.from_arrays(arrays, stats=own, **params)
        assert segment.has_stats and segment.avgdl == index.avgdl
        for name in ("idf", "block_max", "params"):
            np.testing.assert_array_equal(segment.arrays()[name], arrays[name], err_msg=name)
        for query in queries:
            np.testing.assert_array_equal(segment.scores(query), index.scores(query))
            for strategy in STRATEGIES:
                for got, want in zip(segment.topk(query, 10, strategy), index.topk(query, 10, strategy)):
                    np.testing.assert_array_equal(got, want)
        offsets, tokens = pack([x.tolist() for x in queries])
        for got, want in zip(segment.topk_batch(offsets, tokens, 10), index.topk_batch(offsets, tokens, 10)):
            np.testing.assert_array_equal(got, want)


def test_properties_describe_the_segment_and_stats_are_copied():
    docs = [[0, 1, 1], [1, 2], [2]]
    index = build(docs, 3, variant="okapi")
    df = np.array([4, 3, 7, 2, 0], dtype=np.uint32)
    stats = {"n_docs": 10, "total_tokens": 43, "df": df}
    segment = BM25Index.from_arrays(index.arrays(), variant="okapi", stats=stats)
    assert segment.has_stats
    assert segment.avgdl == 4.3
    assert (segment.n_docs, segment.total_tokens, segment.vocab_size) == (3, 6, 3)
    assert [segment.df(t) for t in range(3)] == [1, 2, 2]
    before = segment.scores(q([0, 1, 2]))
    np.testing.assert_array_equal(before, bm25_scores_reference(docs, [0, 1, 2], "okapi", stats=stats))
    df[:] = 1  # the index keeps no view of the stats
    np.testing.assert_array_equal(segment.scores(q([0, 1, 2])), before)
    # Plain opening still ignores nothing and adds nothing.
    plain = BM25Index.from_arrays(index.arrays(), variant="okapi", stats=None)
    assert not plain.has_stats and plain.avgdl == index.avgdl == 2.0


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"df": np.array([1, 1], dtype=np.uint32)}, ValueError, r"'df' has 2 entries but the index's vocab_size is 3"),
        ({"df": np.array([1, 11, 1], dtype=np.uint32)}, ValueError, r"'df'\[1\] = 11 exceeds 'n_docs' = 10"),
        ({"df": np.array([1, 1, 1], dtype=np.int64)}, ValueError, r"stats\['df'\] must be a 1-D contiguous uint32"),
        ({"df": np.ones((1, 3), dtype=np.uint32)}, ValueError, r"stats\['df'\] must be a 1-D contiguous uint32"),
        ({"df": [1, 1, 1]}, ValueError, r"stats\['df'\] must be a 1-D contiguous uint32"),
        ({"df": np.ones(6, dtype=np.uint32)[::2]}, ValueError, r"stats\['df'\] .*non-contiguous"),
        ({"n_docs": -1}, ValueError, r"stats\['n_docs'\] must be >= 0, got -1"),
        ({"total_tokens": -5}, ValueError, r"stats\['total_tokens'\] must be >= 0, got -5"),
        ({"n_docs": 2**70}, ValueError, r"stats\['n_docs'\] is too large"),
        ({"n_docs": 10.0}, TypeError, r"stats\['n_docs'\] must be an int"),
        ({"total_tokens": 2}, ValueError, r"'df' sums to 3, more than 'total_tokens' = 2"),
        ({"n_docs": 0, "df": np.zeros(3, dtype=np.uint32)}, ValueError, r"'total_tokens' is 20 but 'n_docs' is 0"),
        ({"idf": np.zeros(3)}, ValueError, r"unknown key 'idf'"),
        ({"df": None}, ValueError, r"stats\['df'\] must be"),
    ],
)
def test_invalid_stats_are_rejected(change, error, message):
    index = build([[0, 1], [2]], 3)
    stats = {"n_docs": 10, "total_tokens": 20, "df": np.array([1, 1, 1], dtype=np.uint32), **change}
    with pytest.raises(error, match=message):
        BM25Index.from_arrays(index.arrays(), stats=stats)


def test_stats_must_be_a_complete_dict():
    index = build([[0, 1], [2]], 3)
    with pytest.raises(TypeError, match="stats must be None or a dict"):
        BM25Index.from_arrays(index.arrays(), stats=(3, 3, np.ones(3, dtype=np.uint32)))
    with pytest.raises(ValueError, match="stats is missing 'total_tokens'"):
        BM25Index.from_arrays(index.arrays(), stats={"n_docs": 3, "df": np.ones(3, dtype=np.uint32)})
    # numpy integers are counts too.
    stats = {"n_docs": np.int64(3), "total_tokens": np.uint64(3), "df": np.ones(3, dtype=np.uint32)}
    assert BM25Index.from_arrays(index.arrays(), stats=stats).avgdl == 1.0
