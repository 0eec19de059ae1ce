"""The fan-out's call batcher: concurrent calls share sends, each gets its own answer or error."""

from __future__ import annotations

import threading
import time

import pytest

from retrieval.search.call_batcher import CallBatcher


def test_concurrent_calls_share_sends_and_get_their_own_results() -> None:
    groups: list[int] = []

    def send(calls):
        groups.append(len(calls))
        time.sleep(0.01)  # a round trip: others gather meanwhile
        return [c * 10 for c in calls]

    batcher = CallBatcher(send, max_batch=8)
    results: dict[int, int] = {}

    def caller(i: int) -> None:
        results[i] = batcher.submit(i)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {i: i * 10 for i in range(40)}
    assert sum(groups) == 40 and max(groups) <= 8
    assert len(groups) < 40  # calls were grouped


def test_a_lone_call_is_sent_at_once_and_errors_reach_every_caller_of_the_group() -> None:
    batcher = CallBatcher(lambda calls: [c + 1 for c in calls])
    assert batcher.submit(1) == 2

    def fail(calls):
        time.sleep(0.01)
        raise RuntimeError("shard down")

    failing = CallBatcher(fail)
    errors: list[str] = []

    def caller() -> None:
        with pytest.raises(RuntimeError, match="shard down"):
            failing.submit(0)
        errors.append("raised")

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == ["raised"] * 6
    assert failing._leader is None and failing._pending == []  # nothing left waiting, no leader stuck
