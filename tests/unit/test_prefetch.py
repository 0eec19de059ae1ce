import threading

import pytest

from retrieval.ingest.prefetch import prefetch


def test_yields_everything_in_order():
    assert list(prefetch(range(10_000), depth=7)) == list(range(10_000))


def test_producer_exception_reaches_the_consumer_after_earlier_items():
    def items():
        yield 1
        yield 2
        raise ValueError("bad line 3")

    seen = []
    with pytest.raises(ValueError, match="bad line 3"):
        for item in prefetch(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_consumer_stopping_early_stops_the_worker():
    produced = []

    def items():
        for i in range(1_000_000):
            produced.append(i)
            yield i

    before = threading.active_count()
    gen = prefetch(items(), depth=4)
    assert next(gen) == 0
    gen.close()
    assert threading.active_count() == before
    assert len(produced) < 100
