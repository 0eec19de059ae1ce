"""A client that goes away (cancel, or its deadline) stops the answer's generation."""

from __future__ import annotations

import json
import logging
import time

import grpc
import pytest

from retrieval.service.protos import retrieval_pb2 as pb

LONG = pb.AnswerRequest(question="Write a long, detailed essay about every module mentioned.", k=3, budget_tokens=60,
                        max_tokens=1000)  # fmt: skip


def _answer_lines(caplog) -> list[dict]:
    return [json.loads(m) for r in caplog.records if (m := r.getMessage()).startswith('{"method": "Answer"')]


def _wait_for_line(caplog, n: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(lines := _answer_lines(caplog)) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {n} Answer log lines, got {lines}")
        time.sleep(0.01)
    return lines


def test_cancelling_an_answer_stops_generation(server, stub, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    stream = stub.Answer(LONG, timeout=60)
    first = next(stream)
    assert first.WhichOneof("event") == "token"
    stream.cancel()
    with pytest.raises(grpc.RpcError) as info:
        list(stream)
    assert info.value.code() is grpc.StatusCode.CANCELLED
    (line,) = _wait_for_line(caplog, 1)
    assert line["code"] == "CANCELLED" and line["finish_reason"] == "cancelled"
    assert line["completion_tokens"] < 100  # stopped, not run on towards 1000 tokens
    assert server.server.answers.streams == 0
    # The generator (one answer at a time) is free at once: a short answer is not stuck behind it.
    started = time.perf_counter()
    events = list(stub.Answer(pb.AnswerRequest(question="What does json do?", k=2, budget_tokens=40, max_tokens=4), timeout=30))
    assert events[-1].done.completion_tokens <= 4
    assert time.perf_counter() - started < 5.0


def test_an_answer_past_its_deadline_stops_generation(server, stub, caplog) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.service")
    pieces = []
    with pytest.raises(grpc.RpcError) as info:
        for event in stub.Answer(LONG, timeout=1.5):
            pieces.append(event)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    (line,) = _wait_for_line(caplog, 1)
    assert line["code"] == "DEADLINE_EXCEEDED" and line["finish_reason"] == "cancelled"
    assert line["completion_tokens"] < 1000
    assert server.server.answers.streams == 0
