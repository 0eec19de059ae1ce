"""HTTP/JSON beside gRPC: the same servicer, on aiohttp, in the server's own event loop.

    POST /v1/search          SearchRequest JSON       -> SearchResponse JSON
    POST /v1/search_batch    SearchBatchRequest JSON  -> SearchBatchResponse JSON
    POST /v1/answer          AnswerRequest JSON       -> server-sent events: token..., done
    GET  /v1/health          200 while serving, else 503 (no auth, like gRPC health)
    GET  /v1/openapi.json    the committed OpenAPI document (no auth)

Bodies are the proto messages in JSON with the .proto's field names. Each call goes through
the servicer and ``CallObserver`` exactly as a gRPC call does (admission, auth, validation,
metrics, the request log with ``"transport": "http"``); a failure's gRPC code becomes its HTTP
status through ``status.http_status_for`` and the body ``{"error": {"code", "message"}}``.
``X-Timeout-Ms`` is the call's deadline. An answer's errors before its first token get a status
code; later ones arrive as one ``event: error``. A client that disconnects cancels its call
(aiohttp's handler cancellation), which stops an answer's generation at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web
from google.protobuf.message import Message

from ..errors import QueryError
from . import openapi
from .auth import DENIED, TokenSet
from .calls import Call, CallObserver
from .errors import RequestTooLarge, Unauthenticated
from .json_messages import parse_message, to_json
from .lifecycle import Phase
from .protos import retrieval_pb2 as pb
from .servicer import RetrievalServicer
from .status import http_status_for

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class HttpCallContext:
    """What the servicer asks of its context, for an HTTP call: the time left."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline  # time.monotonic() seconds, or None

    def time_remaining(self) -> float | None:
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)


class HttpGateway:
    """Serves ``servicer`` as JSON over HTTP/1.1 (see the module docstring)."""

    def __init__(
        self,
        servicer: RetrievalServicer,
        observer: CallObserver,
        tokens: TokenSet | None,
        max_receive_bytes: int,
    ) -> None:
        self.servicer = servicer
        self.observer = observer
        self.tokens = tokens
        self.max_receive_bytes = max_receive_bytes
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._openapi = openapi.committed()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_receive_bytes, middlewares=[_json_errors])
        app.router.add_post("/v1/search", self._search)
        app.router.add_post("/v1/search_batch", self._search_batch)
        app.router.add_post("/v1/answer", self._answer)
        app.router.add_get("/v1/health", self._health)
        app.router.add_get("/v1/openapi.json", self._document)
        return app

    async def start(self, host: str, port: int, ssl_context: Any = None) -> int:
        """Listen on ``host:port`` (0: a free port); the bound port."""
        # handler_cancellation: a client that goes away cancels its handler (and so its work).
        # shutdown_timeout: stop() comes after the server's own drain; what is left is cancelled.
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host.strip("[]"), port, ssl_context=ssl_context, reuse_port=False)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- endpoints --------------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.StreamResponse:
        return await self._unary(request, "Search", pb.SearchRequest, self.servicer.Search)

    async def _search_batch(self, request: web.Request) -> web.StreamResponse:
        return await self._unary(request, "SearchBatch", pb.SearchBatchRequest, self.servicer.SearchBatch)

    async def _health(self, request: web.Request) -> web.StreamResponse:
        phase = self.observer.lifecycle.phase
        status = "SERVING" if phase is Phase.SERVING else "NOT_SERVING"
        return web.json_response({"status": status, "phase": phase.value}, status=200 if status == "SERVING" else 503)

    async def _document(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=self._openapi, content_type=JSON)

    async def _unary(
        self,
        request: web.Request,
        method: str,
        message_type: type[Message],
        behavior: Callable[[Any, Any], Awaitable[Message]],
    ) -> web.StreamResponse:
        call = self.observer.begin(method, _peer(request), lambda: request.headers, "http")
        try:
            message, context = await self._admit(request, message_type)
            try:
                timeout = context.time_remaining()
                async with asyncio.timeout(timeout):
                    response = await behavior(message, context)
            finally:
                self.observer.exit()
            return web.Response(body=to_json(response), content_type=JSON)
        except asyncio.CancelledError:
            call.record.code = "CANCELLED"  # the client went away
            raise
        except Exception as exc:
            return self._error(call, exc)
        finally:
            self.observer.end(call)

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        call = self.observer.begin("Answer", _peer(request), lambda: request.headers, "http")
        try:
            message, context = await self._admit(request, pb.AnswerRequest)
            try:
                # Closing the events (however this ends) closes the servicer's stream: it stops generation.
                async with contextlib.aclosing(self.servicer.Answer(message, context)) as events:  # type: ignore[type-var]
                    # Errors before the first event (a bad request, no generator, overload) still
                    # get their own status: the headers go out only once there is something to send.
                    first = await _within(anext(events), context)
                    return await self._stream(request, call, first, events, context)
            finally:
                self.observer.exit()
        except asyncio.CancelledError:
            call.record.code = "CANCELLED"  # the client went away
            raise
        except Exception as exc:
            return self._error(call, exc)
        finally:
            self.observer.end(call)

    async def _stream(
        self, request: web.Request, call: Call, first: Message, events: AsyncIterator[Message], context: HttpCallContext
    ) -> web.StreamResponse:
        """The events as SSE; an error once the stream began is one ``event: error``."""
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        try:
            await response.prepare(request)
            await response.write(sse_event(first))
            while True:
                try:
                    event = await _within(anext(events), context)
                except StopAsyncIteration:
                    break
                await response.write(sse_event(event))
        except ConnectionResetError:
            call.record.code = "CANCELLED"  # the client went away mid-write: nothing more to send
            return response
        except Exception as exc:
            code, message = self.observer.failed(call, exc)
            await response.write(_sse("error", _error_body(code.name, message)))
        await response.write_eof()
        return response

    # -- steps ------------------------------------------------------------------------------

    async def _admit(self, request: web.Request, message_type: type[Message]) -> tuple[Message, HttpCallContext]:
        """Count the call in, check its token, read its body and deadline (in gRPC's order)."""
        self.observer.enter()
        try:
            if self.tokens is not None and not self.tokens.allows([("authorization", request.headers.get("Authorization", ""))]):
                raise Unauthenticated(DENIED.replace("metadata", "header"))
            context = HttpCallContext(_deadline(request))
            message = parse_message(await self._body(request), message_type)
        except BaseException:
            self.observer.exit()
            raise
        return message, context

    async def _body(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.max_receive_bytes:
            raise RequestTooLarge(f"the request is {length} bytes, over this server's limit of {self.max_receive_bytes}")
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise RequestTooLarge(f"the request is over this server's limit of {self.max_receive_bytes} bytes") from None

    def _error(self, call: Call, exc: Exception) -> web.Response:
        code, message = self.observer.failed(call, exc)
        status = http_status_for(exc, code)
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        elif status in (429, 503):
            headers["Retry-After"] = "1"
        return web.Response(status=status, body=_error_body(code.name, message), content_type=JSON, headers=headers)


# -- server-sent events -----------------------------------------------------------------------


def sse_event(event: pb.AnswerEvent) -> bytes:
    """One server-sent event: its name is the AnswerEvent's oneof field, its data the JSON."""
    return _sse(event.WhichOneof("event") or "message", to_json(event))


def _sse(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}, ensure_ascii=False).encode("utf-8")


# -- helpers ----------------------------------------------------------------------------------


@web.middleware
async def _json_errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """aiohttp's own refusals (no such path, wrong method) as JSON errors like every other."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "NOT_FOUND", 405: "UNIMPLEMENTED", 413: "RESOURCE_EXHAUSTED"}.get(exc.status, "INVALID_ARGUMENT")
        message = f"{request.method} {request.path}: {exc.reason}"
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.Response(status=exc.status, body=_error_body(code, message), content_type=JSON, headers=headers)


def _deadline(request: web.Request) -> float | None:
    raw = request.headers.get(openapi.TIMEOUT_HEADER)
    if raw is None:
        return None
    try:
        ms = float(raw)
    except ValueError:
        ms = math.nan
    if not 0 < ms < math.inf:
        raise QueryError(f"{openapi.TIMEOUT_HEADER} must be a positive number of milliseconds, got {raw!r}")
    return time.monotonic() + ms / 1000.0


async def _within(awaitable: Awaitable[Message], context: HttpCallContext) -> Message:
    """``awaitable``, or ``TimeoutError`` (DEADLINE_EXCEEDED) once the call's deadline passes."""
    async with asyncio.timeout(context.time_remaining()):
        return await awaitable


def _peer(request: web.Request) -> str:
    return f"http:{request.remote}" if request.remote else "http:?"
