"""MicroBatcher: batching, timing, deduplication, errors, cancellation, shutdown; and batched
embeddings equal to one-at-a-time ones with the real ONNX embedder."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from retrieval import Engine, IndexConfig
from retrieval.embedding import CachedEmbedder, EmbeddingInputError
from retrieval.errors import ConfigError
from retrieval.service.batcher import BatcherClosedError, BatcherError, MicroBatcher
from tests.conftest import SMALL_CORPUS, write_jsonl


class FakeModel:
    """embed_many stand-in: row i is [len(text), hash-ish], records calls and their threads."""

    def __init__(self, delay_s: float = 0.0, fail: Exception | None = None) -> None:
        self.delay_s = delay_s
        self.fail = fail
        self.calls: list[list[str]] = []
        self.threads: set[int] = set()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(list(texts))
            self.threads.add(threading.get_ident())
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.fail is not None:
                raise self.fail
            return np.array([vector(t) for t in texts], dtype=np.float32)
        finally:
            with self._lock:
                self.active -= 1

    @property
    def sizes(self) -> list[int]:
        return [len(c) for c in self.calls]


def vector(text: str) -> list[float]:
    return [float(len(text)), float(sum(map(ord, text)) % 997)]


def run(coro):
    return asyncio.run(coro)


def test_concurrent_callers_share_batches_of_at_most_max_batch():
    model = FakeModel()
    sizes: list[int] = []

    async def main():
        batcher = MicroBatcher(model, max_batch=8, max_wait_ms=50, on_batch=sizes.append)
        texts = [f"query {i}" for i in range(20)]
        t0 = time.perf_counter()
        out = await asyncio.gather(*(batcher.embed(t) for t in texts))
        elapsed = time.perf_counter() - t0
        await batcher.close()
        return texts, out, elapsed

    texts, out, elapsed = run(main())
    assert model.sizes == [8, 8, 4] and sizes == [8, 8, 4]
    for text, got in zip(texts, out):
        assert got.tolist() == vector(text) and got.dtype == np.float32
    # Full batches go at once; only the 4 stragglers wait out the 50 ms timer.
    assert 0.04 < elapsed < 1.0, elapsed


def test_a_full_batch_does_not_wait_for_the_timer():
    model = FakeModel()

    async def main():
        batcher = MicroBatcher(model, max_batch=4, max_wait_ms=5_000)
        t0 = time.perf_counter()
        await asyncio.gather(*(batcher.embed(f"t{i}") for i in range(4)))
        return time.perf_counter() - t0

    assert run(main()) < 1.0
    assert model.sizes == [4]


def test_a_lone_query_waits_at_most_max_wait():
    model = FakeModel()

    async def main(wait_ms: float):
        batcher = MicroBatcher(model, max_batch=32, max_wait_ms=wait_ms)
        t0 = time.perf_counter()
        got = await batcher.embed("alone")
        return got, time.perf_counter() - t0

    got, waited = run(main(300))
    assert got.tolist() == vector("alone")
    assert 0.29 < waited < 1.0, waited
    _, waited = run(main(0))
    assert waited < 0.15, waited


def test_arrivals_during_a_computing_batch_form_the_next_batch():
    model = FakeModel(delay_s=0.1)

    async def main():
        batcher = MicroBatcher(model, max_batch=32, max_wait_ms=1)
        first = asyncio.ensure_future(batcher.embed("first"))
        await asyncio.sleep(0.03)  # the first batch is computing now
        assert model.sizes == [1]
        later = [asyncio.ensure_future(batcher.embed(f"later {i}")) for i in range(10)]
        await asyncio.sleep(0.01)
        assert batcher.pending == 10
        await asyncio.gather(first, *later)

    run(main())
    assert model.sizes == [1, 10]  # one at a time in flight; the queue became one batch


def test_identical_texts_are_embedded_once_and_results_are_read_only():
    model = FakeModel()

    async def main():
        batcher = MicroBatcher(model, max_batch=3, max_wait_ms=20)
        texts = ["same"] * 5 + ["a", "same", "b", "c"]
        return texts, await asyncio.gather(*(batcher.embed(t) for t in texts))

    texts, out = run(main())
    # Three distinct texts fill a batch; the duplicates ride along for free.
    assert model.calls == [["same", "a", "b"], ["c"]]
    for text, got in zip(texts, out):
        assert got.tolist() == vector(text)
        assert not got.flags.writeable


def test_an_error_reaches_every_waiter_of_its_batch_and_the_next_batch_still_works():
    model = FakeModel(fail=RuntimeError("model exploded"))

    async def main():
        batcher = MicroBatcher(model, max_batch=8, max_wait_ms=5)
        results = await asyncio.gather(*(batcher.embed(f"t{i}") for i in range(5)), return_exceptions=True)
        model.fail = None
        after = await batcher.embed("fine")
        return results, after

    results, after = run(main())
    assert len(model.calls) == 2
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)
    assert after.tolist() == vector("fine")


def test_a_wrong_shape_from_embed_many_is_an_error_for_the_batch():
    async def main():
        batcher = MicroBatcher(lambda texts: np.zeros((len(texts) + 1, 2), np.float32), max_wait_ms=1)
        return await asyncio.gather(batcher.embed("x"), batcher.embed("y"), return_exceptions=True)

    results = run(main())
    assert all(isinstance(r, BatcherError) and "shape" in str(r) for r in results)


def test_a_cancelled_waiter_does_not_break_its_batch():
    model = FakeModel(delay_s=0.05)

    async def main():
        batcher = MicroBatcher(model, max_batch=32, max_wait_ms=10)
        tasks = [asyncio.ensure_future(batcher.embed(f"t{i}")) for i in range(6)]
        await asyncio.sleep(0)
        tasks[0].cancel()  # before its batch starts: its text is not even embedded
        await asyncio.sleep(0.03)  # the batch of t1..t5 is computing
        tasks[1].cancel()  # while computing: the others still get their results
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return results, await batcher.embed("after")

    results, after = run(main())
    assert isinstance(results[0], asyncio.CancelledError) and isinstance(results[1], asyncio.CancelledError)
    assert [r.tolist() for r in results[2:]] == [vector(f"t{i}") for i in range(2, 6)]
    assert model.calls[0] == [f"t{i}" for i in range(1, 6)]
    assert after.tolist() == vector("after")


def test_embed_many_runs_off_the_event_loop():
    model = FakeModel(delay_s=0.15)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def main():
        batcher = MicroBatcher(model, max_wait_ms=0)
        tick = asyncio.ensure_future(ticker())
        await batcher.embed("slow")
        tick.cancel()
        return threading.get_ident()

    loop_thread = run(main())
    assert loop_thread not in model.threads
    assert ticks >= 3, ticks  # the loop kept running while the model computed


def test_max_inflight_runs_batches_concurrently():
    model = FakeModel(delay_s=0.1)

    async def main(inflight: int):
        batcher = MicroBatcher(model, max_batch=2, max_wait_ms=0, max_inflight=inflight)
        await asyncio.gather(*(batcher.embed(f"t{i}") for i in range(6)))

    run(main(1))
    assert model.max_active == 1
    model.max_active = 0
    run(main(3))
    assert model.max_active >= 2


def test_bad_texts_fail_alone_not_their_batch_mates():
    model = FakeModel()

    async def main():
        batcher = MicroBatcher(model, max_batch=8, max_wait_ms=5)
        good = asyncio.ensure_future(batcher.embed("good"))
        with pytest.raises(EmbeddingInputError, match="string"):
            await batcher.embed(42)  # type: ignore[arg-type]
        with pytest.raises(EmbeddingInputError, match="UTF-8"):
            await batcher.embed("lone \ud800 surrogate")
        return await good

    assert run(main()).tolist() == vector("good")
    assert model.calls == [["good"]]


def test_close_finishes_waiting_texts_then_refuses_new_ones():
    model = FakeModel(delay_s=0.02)

    async def main():
        batcher = MicroBatcher(model, max_batch=2, max_wait_ms=10_000)
        waiting = [asyncio.ensure_future(batcher.embed(f"t{i}")) for i in range(5)]
        await asyncio.sleep(0)
        await batcher.close()  # does not wait 10 s for the timer: flushes now
        assert all(w.done() for w in waiting)
        with pytest.raises(BatcherClosedError):
            await batcher.embed("late")
        return [w.result().tolist() for w in waiting]

    assert run(main()) == [vector(f"t{i}") for i in range(5)]
    assert model.sizes == [2, 2, 1]


def test_a_failing_on_batch_hook_is_logged_not_raised(caplog):
    def broken(size: int) -> None:
        raise ValueError("metrics down")

    async def main():
        batcher = MicroBatcher(FakeModel(), max_wait_ms=0, on_batch=broken)
        return await batcher.embed("x")

    assert run(main()).tolist() == vector("x")
    assert "on_batch callback failed" in caplog.text


@pytest.mark.parametrize(
    "kwargs", [{"max_batch": 0}, {"max_batch": True}, {"max_wait_ms": -1}, {"max_wait_ms": float("inf")}, {"max_inflight": 0}]
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        MicroBatcher(FakeModel(), **kwargs)


# -- with the real embedder -------------------------------------------------------------------

QUERIES = [
    "json",
    "how do I parse a json document into python objects",
    "read a file",
    "regular expressions",
    "what is the difference between a list and a tuple in python and when should I use each",
    "json",  # duplicate
    "open()",
    "standard library modules for networking, threads and processes",
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("batcher")
    corpus = write_jsonl(root / "corpus.jsonl", SMALL_CORPUS)
    return Engine.build(corpus, root / "bundle", IndexConfig.from_dict({"dense": True}))


def test_batched_embeddings_equal_one_at_a_time(engine: Engine):
    raw = engine.planner.dense.embedder.embedder  # the ONNX embedder itself, no cache in between
    sizes: list[int] = []

    async def main():
        batcher = MicroBatcher(raw.embed, max_batch=32, max_wait_ms=20, on_batch=sizes.append)
        out = await asyncio.gather(*(batcher.embed(q) for q in QUERIES))
        await batcher.close()
        return out

    batched = run(main())
    assert sizes == [len(set(QUERIES))]  # one model call for all of them
    alone = CachedEmbedder(raw)  # fresh cache: every query really embedded on its own
    for query, got in zip(QUERIES, batched):
        assert got.shape == (raw.dim,)
        assert np.allclose(got, alone.embed_query(query), atol=1e-5), query


def test_engine_embed_queries_as_embed_many_feeds_search(engine: Engine):
    async def main():
        batcher = MicroBatcher(engine.embed_queries, max_batch=4, max_wait_ms=5)
        vectors = await asyncio.gather(*(batcher.embed(q) for q in QUERIES))
        results = [await engine.asearch(q, 3, "hybrid", None, v) for q, v in zip(QUERIES, vectors)]
        await batcher.close()
        return results

    for query, result in zip(QUERIES, run(main())):
        assert [h.id for h in result.hits] == [h.id for h in engine.search(query, 3, "hybrid").hits]
