"""A small OpenAI-compatible embeddings server, for tests and benchmarks (not production).

    python -m retrieval.bench.embed_server --port 0 [--host 127.0.0.1] [--threads N]

A real HTTP server on a free port speaking the OpenAI ``/v1/embeddings`` protocol over our
packaged all-MiniLM-L6-v2 (fp32 ONNX), so ``RemoteEmbedder`` is tested and measured against a
separate process. It prints ``listening on http://HOST:PORT`` once the model is loaded, then
serves until killed. Standard library only (``http.server``), one thread per connection.

Besides ``POST /v1/embeddings``:
  - ``POST /control`` ``{"faults": [...]}`` queues faults, one taken by each embeddings request
    before normal service resumes: ``{"status": 500}``, ``{"status": 429, "retry_after": 0}``,
    ``{"malformed": true}`` (200, not JSON), ``{"dim": 7}`` (vectors cut to 7 components),
    ``{"sleep": 2.0}`` (then answer normally), ``{"status": 401}``, ``{"shuffle": true}`` (the
    reply's items in reverse order: clients must place rows by their ``index``), ``{"drop": true}``
    (the connection closed without an answer, as a server does with an idle kept-alive one);
  - ``GET /stats``: requests seen, the batch size of each, the most requests in flight at once,
    the last Authorization header and inputs;
  - ``POST /reset``: clears the statistics and the fault queue.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _State:
    """What the control endpoints read and write, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: deque[dict[str, Any]] = deque()
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.faults.clear()
        self.requests = 0
        self.batch_sizes: list[int] = []
        self.max_concurrent = 0
        self.last_authorization: str | None = None
        self.last_inputs: list[str] = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "batch_sizes": list(self.batch_sizes),
            "max_concurrent": self.max_concurrent,
            "in_flight": self.in_flight,
            "last_authorization": self.last_authorization,
            "last_inputs": list(self.last_inputs),
            "faults_left": len(self.faults),
        }


class EmbedServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` answering with ``embedder.embed(texts)`` (any object with it)."""

    daemon_threads = True  # kept-alive client connections never block shutdown
    request_queue_size = 128  # many clients connecting at once are not dropped (a 1 s SYN retry)

    def __init__(self, address: tuple[str, int], embedder: Any) -> None:
        super().__init__(address, _Handler)
        self.embedder = embedder
        self.state = _State()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: EmbedServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read stdout
        pass

    def do_GET(self) -> None:
        if self.path == "/stats":
            with self.server.state.lock:
                self._json(200, self.server.state.snapshot())
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/v1/embeddings":
            self._embeddings(body)
        elif self.path == "/control":
            faults = _json_or_none(body)
            faults = faults.get("faults") if isinstance(faults, dict) else None
            if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
                return self._error(400, 'expected {"faults": [{...}, ...]}')
            with self.server.state.lock:
                self.server.state.faults.extend(faults)
            self._json(200, {"queued": len(faults)})
        elif self.path == "/reset":
            with self.server.state.lock:
                self.server.state.reset()
            self._json(200, {"reset": True})
        else:
            self._error(404, f"no route POST {self.path}")

    def _embeddings(self, body: bytes) -> None:
        state = self.server.state
        with state.lock:
            state.requests += 1
            state.in_flight += 1
            state.max_concurrent = max(state.max_concurrent, state.in_flight)
            state.last_authorization = self.headers.get("Authorization")
            fault = state.faults.popleft() if state.faults else {}
        try:
            request = _json_or_none(body)
            texts = request.get("input") if isinstance(request, dict) else None
            if isinstance(texts, str):
                texts = [texts]
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
                return self._error(400, "'input' must be a string or a non-empty list of strings")
            with state.lock:
                state.batch_sizes.append(len(texts))
                state.last_inputs = list(texts)
            if fault.get("drop"):
                self.close_connection = True
                return
            if "sleep" in fault:
                time.sleep(float(fault["sleep"]))
            if "status" in fault:
                headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else {}
                return self._error(int(fault["status"]), "injected fault", headers)
            if fault.get("malformed"):
                return self._send(200, b"<html>not json</html>", "text/html")
            vectors = self.server.embedder.embed(texts)
            if "dim" in fault:
                vectors = vectors[:, : int(fault["dim"])]
            data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors.tolist())]
            if fault.get("shuffle"):
                data.reverse()
            tokens = sum(len(t) // 4 + 1 for t in texts)  # the protocol's usage field; an estimate
            self._json(200, {
                "object": "list",
                "data": data,
                "model": request.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            })
        except ValueError as exc:  # the embedder refused a text (e.g. a lone surrogate)
            self._error(400, " ".join(str(exc).split()))
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out): nothing to answer
            self.close_connection = True
        finally:
            with state.lock:
                state.in_flight -= 1

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error", "code": status}}
        self._send(status, json.dumps(body).encode("utf-8"), "application/json", headers)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def start_in_thread(embedder: Any, host: str = "127.0.0.1", port: int = 0) -> tuple[EmbedServer, str]:
    """A server for ``embedder`` serving from a daemon thread: ``(server, url)``; stop it with
    ``server.shutdown(); server.server_close()``."""
    server = EmbedServer((host, port), embedder)
    threading.Thread(target=server.serve_forever, name="embed-server", daemon=True).start()
    return server, server.url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7997, help="0: a free port (printed)")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all cores)")
    parser.add_argument("--variant", default="fp32", choices=("fp32", "int8"))
    args = parser.parse_args(argv)
    from ..embedding import OnnxEmbedder

    server = EmbedServer((args.host, args.port), OnnxEmbedder(args.variant, intra_op_threads=args.threads))
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
