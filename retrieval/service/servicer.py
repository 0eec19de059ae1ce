"""The ``retrieval.v1.Retrieval`` servicer: thin by design.

Each method converts the request (``convert.py``, which validates it), hands it to the search
or answer pipeline, and converts the outcome back. It never picks a status code: exceptions
travel to ``ObservingInterceptor``, which maps them. What a call did (k, mode, cached, ...) is
noted on its ``CallRecord`` for the request log.
"""

from __future__ import annotations

import time
from typing import AsyncIterator, TypeVar

import grpc
from google.protobuf.message import Message

from ..errors import QueryError
from . import convert
from .answering import AnswerPipeline
from .errors import ResponseTooLarge
from .calls import current_call
from .pipeline import SearchPipeline
from .response_budget import ResponseBudget
from .protos import retrieval_pb2 as pb
from .protos import retrieval_pb2_grpc as pb_grpc
from .validation import RequestRules

M = TypeVar("M", bound=Message)


class RetrievalServicer(pb_grpc.RetrievalServicer):
    def __init__(
        self,
        rules: RequestRules,
        searches: SearchPipeline,
        answers: AnswerPipeline,
        max_send_bytes: int,
        budget: ResponseBudget | None = None,
    ) -> None:
        self.rules = rules
        self.searches = searches
        self.answers = answers
        self.max_send_bytes = max_send_bytes
        self.budget = budget  # refuses a search whose response would be too large, before its work

    async def Search(self, request: pb.SearchRequest, context: grpc.aio.ServicerContext) -> pb.SearchResponse:
        query = convert.search_query(request, self.rules)
        call = current_call()
        call.note(k=query.k, mode=query.mode)
        if self.budget is not None:
            await self.budget.check([query.k])
        outcome = await self.searches.search(query, deadline_of(context))
        call.note(cached=outcome.cached, hits=len(outcome.hits))
        return self._sized(convert.search_response(outcome.hits, outcome.timings_ms, outcome.cached))

    async def SearchBatch(self, request: pb.SearchBatchRequest, context: grpc.aio.ServicerContext) -> pb.SearchBatchResponse:
        self.rules.batch_size(len(request.requests))
        queries = []
        for i, item in enumerate(request.requests):
            try:
                queries.append(convert.search_query(item, self.rules))
            except QueryError as exc:
                raise QueryError(f"requests[{i}]: {exc}") from None
        call = current_call()
        call.note(queries=len(queries), k=sorted({q.k for q in queries}), mode=sorted({q.mode for q in queries}))
        if self.budget is not None:
            await self.budget.check([q.k for q in queries])
        outcomes = await self.searches.search_many(queries, deadline_of(context))
        call.note(cached=sum(o.cached for o in outcomes))
        return self._sized(
            pb.SearchBatchResponse(responses=[convert.search_response(o.hits, o.timings_ms, o.cached) for o in outcomes])
        )

    async def Answer(self, request: pb.AnswerRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb.AnswerEvent]:
        query = convert.answer_query(request, self.rules)
        call = current_call()
        call.note(k=query.k, mode=query.mode)
        async with self.answers.stream(query, deadline_of(context)) as stream:
            try:
                async for piece in stream:
                    yield convert.token_event(piece)
            finally:
                await stream.aclose()  # at once, whatever ended the loop: stops generation
                if stream.metrics is not None:
                    m = stream.metrics
                    call.note(
                        finish_reason=m.finish_reason, completion_tokens=m.completion_tokens, ttft_ms=m.ttft_ms
                    )
            metrics = stream.metrics
        assert metrics is not None  # set by aclose in every outcome
        yield convert.done_event(metrics, stream.sources)

    def _sized(self, response: M) -> M:
        """``response``, or ``ResponseTooLarge`` with advice (gRPC alone would say only the sizes)."""
        size = response.ByteSize()
        if size > self.max_send_bytes:
            raise ResponseTooLarge(
                f"the response would be {size} bytes, over this server's limit of {self.max_send_bytes}: "
                "ask for a smaller k or fewer queries per call"
            )
        return response


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's deadline on the ``time.monotonic()`` clock (None: the client set none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining
