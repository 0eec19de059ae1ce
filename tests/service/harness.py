"""An in-process server on its own event loop thread, for tests driving it with sync clients."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Coroutine, TypeVar

import grpc

from retrieval.service.config import ServiceConfig
from retrieval.service.protos import retrieval_pb2_grpc
from retrieval.service.server import RetrievalServer

T = TypeVar("T")
START_TIMEOUT_S = 120.0


def wait_for(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true; ``AssertionError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """``RetrievalServer`` running on an event loop in a background thread."""

    def __init__(self, engine: Any, config: ServiceConfig | None = None, generator: Any = None, **overrides: Any) -> None:
        base = config or ServiceConfig(port=0, metrics_port=0)
        if overrides:
            from dataclasses import replace

            base = replace(base, **overrides)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-grpc-server", daemon=True)
        self._thread.start()
        self.server = self.run(self._make(engine, base, generator))

    @staticmethod
    async def _make(engine: Any, config: ServiceConfig, generator: Any) -> RetrievalServer:
        return RetrievalServer(engine, config, generator=generator)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = START_TIMEOUT_S) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "ServerThread":
        self.run(self.server.start())
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def channel(self, **options: Any) -> grpc.Channel:
        return grpc.insecure_channel(self.target, **options)

    def stub(self, channel: grpc.Channel) -> retrieval_pb2_grpc.RetrievalStub:
        return retrieval_pb2_grpc.RetrievalStub(channel)

    def stop(self, grace: float = 5.0) -> None:
        try:
            self.run(self.server.stop(grace), timeout=grace + 30)
        finally:
            self.close_loop()

    def close_loop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.run_until_complete(self.loop.shutdown_default_executor())
        self.loop.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
