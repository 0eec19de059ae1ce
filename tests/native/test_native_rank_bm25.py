"""okapi scores equal rank_bm25.BM25Okapi.get_scores at the token-id level."""

from __future__ import annotations

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from retrieval.native import BM25Index

from .helpers import first_occurrence_ids, pack, zipf_corpus, zipf_queries

CORPORA = [  # (seed, n_docs, vocab, mean doc length, k1, b, epsilon)
    (1, 1, 5, 8, 1.5, 0.75, 0.25),  # one document: every idf is negative
    (2, 7, 6, 5, 1.5, 0.75, 0.25),  # tiny vocabulary: many terms in > half the docs
    (3, 300, 500, 30, 1.5, 0.75, 0.25),
    (4, 1_000, 3_000, 60, 1.2, 0.4, 0.5),
    (5, 2_000, 800, 12, 2.0, 1.0, 0.1),
]


def as_words(ids) -> list[str]:
    return [f"t{i}" for i in ids]


@pytest.mark.parametrize("seed,n_docs,vocab,mean_len,k1,b,epsilon", CORPORA)
def test_okapi_equals_rank_bm25(seed, n_docs, vocab, mean_len, k1, b, epsilon):
    rng = np.random.default_rng(seed)
    raw = [d for d in zipf_corpus(rng, n_docs, vocab, mean_len)]
    raw = [d if len(d) else np.array([0], dtype=np.uint32) for d in raw]  # rank_bm25 divides 0/0 on empty docs
    docs, n_terms = first_occurrence_ids([d.tolist() for d in raw])
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, n_terms + 3, variant="okapi", k1=k1, b=b, epsilon=epsilon)
    reference = BM25Okapi([as_words(d) for d in docs], k1=k1, b=b, epsilon=epsilon)
    assert index.avgdl == reference.avgdl
    queries = [q % (n_terms + 3) for q in zipf_queries(rng, 40, n_terms + 3, 6)]  # a few unknown terms
    queries.append(np.array([0, 0, 1, 0], dtype=np.uint32))  # duplicates count per occurrence
    for query in queries:
        expected = reference.get_scores(as_words(query))
        assert np.array_equal(index.scores(query.astype(np.uint32)), expected)


def test_okapi_close_to_rank_bm25_in_any_id_order():
    """With ids not in first-occurrence order only the average idf's summation order differs."""
    rng = np.random.default_rng(11)
    docs = [d.tolist() for d in zipf_corpus(rng, 500, 400, 20) if len(d)]
    relabel = rng.permutation(400)
    docs = [[int(relabel[t]) for t in d] for d in docs]
    offsets, tokens = pack(docs)
    index = BM25Index.build(offsets, tokens, 400, variant="okapi")
    reference = BM25Okapi([as_words(d) for d in docs])
    for query in zipf_queries(rng, 30, 400, 5):
        query = relabel[query].astype(np.uint32)
        np.testing.assert_allclose(index.scores(query), reference.get_scores(as_words(query)), rtol=1e-12, atol=0)
