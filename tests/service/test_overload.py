"""Overload, deadlines and priorities through a real server over a deliberately slow engine."""

from __future__ import annotations

import json
import logging
import threading
import time

import grpc
import pytest

from retrieval.service.protos import retrieval_pb2 as pb

from .fakes import ScriptedEngine
from .harness import ServerThread, wait_for

DELAY_S = 0.4


def _search(query: str) -> pb.SearchRequest:
    return pb.SearchRequest(query=query, k=2, mode="bm25")


def test_beyond_the_queue_limit_calls_get_resource_exhausted_at_once(engine) -> None:
    slow = ScriptedEngine(engine, delay_s=DELAY_S)
    with ServerThread(slow, workers=1, max_inflight=1, queue_limit=1, result_cache_size=0) as server, server.channel() as channel:
        stub = server.stub(channel)
        running = stub.Search.future(_search("json one"), timeout=10)
        wait_for(lambda: server.server.admission.inflight == 1)
        queued = stub.Search.future(_search("json two"), timeout=10)
        wait_for(lambda: server.server.admission.queued == 1)
        started = time.perf_counter()
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(_search("json three"), timeout=10)
        refused_after = time.perf_counter() - started
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused_after < DELAY_S / 2  # refused at once, not after waiting its turn
        assert running.result().hits and queued.result().hits  # the admitted ones are served
        assert slow.calls == ["json one", "json two"]


def test_an_expired_call_is_dropped_before_its_work_runs(engine, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    slow = ScriptedEngine(engine, delay_s=DELAY_S)
    # One worker thread, room for many calls: the second waits in the pool, not the admission queue.
    with ServerThread(slow, workers=1, max_inflight=8, result_cache_size=0) as server, server.channel() as channel:
        stub = server.stub(channel)
        first = stub.Search.future(_search("json first"), timeout=10)
        wait_for(lambda: slow.calls == ["json first"])
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(_search("json expired"), timeout=DELAY_S / 4)
        assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert first.result().hits
        time.sleep(DELAY_S)  # the worker is free again: the expired call's search must not start
        assert slow.calls == ["json first"]
        assert stub.Search(_search("json after"), timeout=10).hits
    codes = [json.loads(r.getMessage())["code"] for r in caplog.records if r.getMessage().startswith('{"method": "Search"')]
    assert sorted(codes) == ["DEADLINE_EXCEEDED", "OK", "OK"]


def test_interactive_calls_overtake_queued_batches(engine) -> None:
    slow = ScriptedEngine(engine, delay_s=DELAY_S / 2)
    with ServerThread(slow, workers=1, max_inflight=1, result_cache_size=0) as server, server.channel() as channel:
        stub = server.stub(channel)
        finished: list[str] = []
        lock = threading.Lock()

        def note(name: str):
            def done(_future) -> None:
                with lock:
                    finished.append(name)
            return done

        first = stub.Search.future(_search("json holder"), timeout=20)
        first.add_done_callback(note("holder"))
        wait_for(lambda: server.server.admission.inflight == 1)
        batch = stub.SearchBatch.future(pb.SearchBatchRequest(requests=[_search("json batch")]), timeout=20)
        batch.add_done_callback(note("batch"))
        wait_for(lambda: server.server.admission.queued == 1)
        search = stub.Search.future(_search("json interactive"), timeout=20)
        search.add_done_callback(note("search"))
        wait_for(lambda: server.server.admission.queued == 2)
        for future in (first, batch, search):
            future.result()
        wait_for(lambda: len(finished) == 3)
        assert finished == ["holder", "search", "batch"]
        assert slow.calls == ["json holder", "json interactive", "json batch"]


def test_answer_streams_beyond_the_limit_are_refused(engine, generator) -> None:
    with ServerThread(engine, generator=generator, max_answer_streams=1) as server, server.channel() as channel:
        stub = server.stub(channel)
        long = stub.Answer(pb.AnswerRequest(question="Explain the json module.", k=2, budget_tokens=40, max_tokens=200), timeout=30)
        next(long)  # generating now
        with pytest.raises(grpc.RpcError) as info:
            list(stub.Answer(pb.AnswerRequest(question="What does re do?", max_tokens=4), timeout=30))
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        long.cancel()
        wait_for(lambda: server.server.answers.streams == 0)
