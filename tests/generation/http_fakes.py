"""Tiny in-test HTTP endpoints for the OpenAI backend: scripted replies, hangs, dead ports."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


def free_port() -> int:
    """A port nothing listens on (bound once by the OS, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    """One scripted HTTP response. ``events``: SSE data payloads, each sent as ``data: ...``
    followed by a blank line; ``raw``: bytes sent as the body instead; ``stall_after``: stop
    sending after that many events and hang (until the server is closed)."""

    status: int = 200
    events: list[str] = field(default_factory=list)
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stall_after: int | None = None
    event_delay_s: float = 0.0


def chunk(content: str | None = None, finish: str | None = None) -> str:
    """The data of one chat.completion.chunk event."""
    delta = {} if content is None else {"content": content}
    return json.dumps({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


def token_events(pieces: list[str]) -> list[str]:
    """A well-formed stream: one chunk per piece, a finishing chunk, [DONE]."""
    return [chunk(p) for p in pieces] + [chunk(None, "stop"), "[DONE]"]


class ScriptedServer:
    """Serves ``replies`` in order (the last one repeats) on 127.0.0.1; records the requests."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[dict] = []
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                index = len(server.requests)
                server.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body or b"{}")})
                reply = server.replies[min(index, len(server.replies) - 1)]
                try:
                    server._send(self, reply)
                except (BrokenPipeError, ConnectionResetError):  # the client went away: fine
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.raw is not None:
            body = reply.raw
            handler.send_response(reply.status)
            headers = {"content-type": "text/plain", **reply.headers}
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("content-length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
            return
        handler.send_response(reply.status)
        handler.send_header("content-type", "text/event-stream")
        handler.send_header("connection", "close")
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        for i, data in enumerate(reply.events):
            if reply.stall_after is not None and i >= reply.stall_after:
                break
            handler.wfile.write(f"data: {data}\n\n".encode())
            handler.wfile.flush()
            if reply.event_delay_s:
                time.sleep(reply.event_delay_s)
        if reply.stall_after is not None:
            self.release.wait(30)
        handler.close_connection = True

    def close(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class SilentServer:
    """Accepts TCP connections (the kernel does, from the listen backlog) and never answers."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self._sock.close()


@contextlib.contextmanager
def serving(replies: list[Reply]) -> Iterator[ScriptedServer]:
    server = ScriptedServer(replies)
    try:
        yield server
    finally:
        server.close()
