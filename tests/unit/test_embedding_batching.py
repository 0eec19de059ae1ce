"""Length-sorted batch planning and padding (pure numpy, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedding.batching import pad, padding_efficiency, plan_batches


@pytest.mark.parametrize("max_batch, max_batch_tokens", [(1, 256), (4, 256), (8, 1024), (32, 8192), (64, 2048)])
def test_every_index_once_and_limits_hold(max_batch: int, max_batch_tokens: int) -> None:
    rng = np.random.default_rng(7)
    lengths = rng.integers(2, 257, size=301)
    batches = plan_batches(lengths, max_batch, max_batch_tokens)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= max_batch
        assert lengths[batch].max() * len(batch) <= max(max_batch_tokens, lengths[batch].max())
    # Longest first: each batch's longest text is no longer than the previous batch's shortest.
    for prev, cur in zip(batches, batches[1:]):
        assert lengths[cur].max() <= lengths[prev].min()


def test_token_budget_closes_batches_of_long_texts_early() -> None:
    lengths = [256] * 10 + [16] * 100
    batches = plan_batches(lengths, max_batch=32, max_batch_tokens=1024)
    long_batches = [b for b in batches if max(lengths[i] for i in b) == 256]
    assert [len(b) for b in long_batches] == [4, 4, 4]  # 4 x 256 = 1024 padded tokens at most (2 short fill the third)
    assert max(len(b) for b in batches) == 32  # the short texts fill whole batches


def test_text_longer_than_budget_gets_its_own_batch() -> None:
    batches = plan_batches([600, 3, 3], max_batch=8, max_batch_tokens=256)
    assert [b.tolist() for b in batches] == [[0], [1, 2]]


def test_equal_lengths_keep_input_order() -> None:
    batches = plan_batches([5, 5, 5, 5, 5], max_batch=2, max_batch_tokens=100)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]


def test_pad_builds_ids_and_mask_from_lengths() -> None:
    ids, mask = pad([[101, 7, 8, 102], [101, 0, 102]], pad_id=0)  # a real id 0 ([PAD] typed as text) stays unmasked
    assert ids.dtype == np.int64 and mask.dtype == np.int64
    assert ids.tolist() == [[101, 7, 8, 102], [101, 0, 102, 0]]
    assert mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]


def test_padding_efficiency() -> None:
    lengths = np.array([10, 10, 5, 5])
    assert padding_efficiency(lengths, [np.array([0, 1]), np.array([2, 3])]) == 1.0
    assert padding_efficiency(lengths, [np.array([0, 2]), np.array([1, 3])]) == pytest.approx(30 / 40)
