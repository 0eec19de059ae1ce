"""The chunk limiter: relative cutoff, MMR and near duplicates, per-document cap, token budget."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.config import ContextConfig, LimiterConfig
from retrieval.context import cosine_similarity, jaccard_similarity, limit_chunks, limit_hits, relative_scores
from retrieval.errors import ConfigError, QueryError
from retrieval.types import Hit


def _unrelated(n: int) -> np.ndarray:
    return np.eye(n)


def test_no_limits_keep_every_hit_in_rank_order():
    keep = limit_chunks([5.0, 4.0, 3.0], ["a", "b", "c"], [10, 10, 10], _unrelated(3), LimiterConfig(mmr_lambda=1.0))
    assert keep == [0, 1, 2]


def test_token_budget_skips_what_no_longer_fits_but_takes_smaller_later_hits():
    config = LimiterConfig(budget_tokens=100, mmr_lambda=1.0)
    keep = limit_chunks([4.0, 3.0, 2.0, 1.0], ["a", "b", "c", "d"], [60, 50, 30, 20], _unrelated(4), config)
    assert keep == [0, 2]  # 60 + 30 = 90; 50 and then 20 would pass 100 (90 + 20 = 110)
    assert limit_chunks([1.0], ["a"], [5], _unrelated(1), LimiterConfig(budget_tokens=0)) == []


def test_per_document_cap():
    config = LimiterConfig(max_per_document=2, mmr_lambda=1.0)
    keep = limit_chunks([9, 8, 7, 6, 5], ["a", "a", "a", "b", "a"], [1] * 5, _unrelated(5), config)
    assert keep == [0, 1, 3]


def test_relative_cutoff_on_positive_scores_is_a_fraction_of_the_best():
    config = LimiterConfig(min_relative_score=0.5, mmr_lambda=1.0)
    keep = limit_chunks([10.0, 6.0, 5.0, 4.9, 0.5], list("abcde"), [1] * 5, _unrelated(5), config)
    assert keep == [0, 1, 2]  # 5.0 is exactly half of 10 and stays; 4.9 goes


def test_relative_cutoff_with_negative_scores_uses_the_min_max_span():
    scores = [0.2, -0.1, -0.4, -0.8]  # e.g. cosines; anchor = -0.8, span = 1.0
    assert np.allclose(relative_scores(scores), [1.0, 0.7, 0.4, 0.0])
    config = LimiterConfig(min_relative_score=0.5, mmr_lambda=1.0)
    assert limit_chunks(scores, list("abcd"), [1] * 4, _unrelated(4), config) == [0, 1]


def test_equal_scores_are_all_relevant():
    assert relative_scores([3.0, 3.0]).tolist() == [1.0, 1.0]
    assert relative_scores([0.0, 0.0]).tolist() == [1.0, 1.0]
    assert relative_scores([-2.0, -2.0]).tolist() == [1.0, 1.0]


def test_mmr_pushes_a_similar_chunk_below_a_different_one():
    sim = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.1], [0.1, 0.1, 1.0]])
    scores = [1.0, 0.95, 0.8]
    assert limit_chunks(scores, list("abc"), [1] * 3, sim, LimiterConfig(mmr_lambda=1.0)) == [0, 1, 2]
    assert limit_chunks(scores, list("abc"), [1] * 3, sim, LimiterConfig(mmr_lambda=0.5)) == [0, 2, 1]


def test_near_duplicate_is_dropped_by_embedding_similarity():
    rng = np.random.default_rng(7)
    base = rng.normal(size=(3, 16)).astype(np.float32)
    vectors = np.vstack([base[0], base[0] + 0.01 * rng.normal(size=16), base[1], base[2]])
    keep = limit_chunks([4, 3, 2, 1], list("abcd"), [1] * 4, cosine_similarity(vectors), LimiterConfig())
    assert keep == [0, 2, 3]


def test_near_duplicate_is_dropped_by_jaccard_without_embeddings():
    texts = [
        "The json module parses JSON text into Python objects.",
        "the JSON module parses json text into python objects",
        "Regular expressions match patterns in strings.",
    ]
    sim = jaccard_similarity(texts)
    assert sim[0, 1] == pytest.approx(1.0) and sim[0, 2] == 0.0
    assert limit_chunks([3, 2, 1], list("abc"), [1] * 3, sim, LimiterConfig()) == [0, 2]
    assert jaccard_similarity(["", ""])[0, 1] == 0.0


def test_limit_hits_uses_vectors_when_given_and_counts_tokens(embedder_tokens):
    hits = [
        Hit(chunk=i, id=f"d{i}#0", doc_id=f"d{i}", score=float(10 - i), text=text)
        for i, text in enumerate(["alpha beta gamma delta", "alpha beta gamma delta", "something else entirely"])
    ]
    kept = limit_hits(hits, embedder_tokens, LimiterConfig())
    assert [h.chunk for h in kept] == [0, 2]  # Jaccard: the copy goes
    far = np.eye(3, dtype=np.float32)  # the embeddings call every chunk different: nothing goes
    assert [h.chunk for h in limit_hits(hits, embedder_tokens, LimiterConfig(), vectors=far)] == [0, 1, 2]
    tight = LimiterConfig(budget_tokens=embedder_tokens.count(hits[0].text), duplicate_threshold=1.0)
    assert [h.chunk for h in limit_hits(hits, embedder_tokens, tight, vectors=far)] == [0]
    assert limit_hits([], embedder_tokens) == []


def test_mismatched_inputs_and_bad_scores_are_query_errors():
    with pytest.raises(QueryError, match="one doc id"):
        limit_chunks([1.0, 2.0], ["a"], [1, 1], _unrelated(2))
    with pytest.raises(QueryError, match="finite"):
        limit_chunks([1.0, float("nan")], ["a", "b"], [1, 1], _unrelated(2))


def test_limiter_config_validation_and_context_config_from_dict():
    with pytest.raises(ConfigError, match="mmr_lambda"):
        LimiterConfig(mmr_lambda=1.5)
    with pytest.raises(ConfigError, match="max_per_document"):
        LimiterConfig(max_per_document=-1)
    with pytest.raises(ConfigError, match="budget_tokens"):
        LimiterConfig(budget_tokens=-5)
    config = ContextConfig.from_dict({"limiter": {"max_per_document": 2}}, {"compressor.keyword_weight": 0.0})
    assert config.limiter.max_per_document == 2 and config.compressor.keyword_weight == 0.0
    assert ContextConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="limiter.max_per_doc"):
        ContextConfig.from_dict({"limiter": {"max_per_doc": 2}})
