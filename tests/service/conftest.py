"""Fixtures for the service tests: one small dense bundle, SmolLM2 on one thread, a running server.

The bundle (10 short documents) builds in a few seconds with the cached ONNX embedder. The
generator uses one thread (see tests/generation/conftest.py: on 2 shared cores llama.cpp's
threads wait on each other) and short answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import grpc
import pytest

from retrieval import Engine
from retrieval.types import Document

from .harness import ServerThread

DOCS = [
    Document("json", "The json module encodes and decodes JSON. Use json.loads to parse a string into objects.", "json"),
    Document("files", "Open a file with open(). Iterate over the file object to read it line by line.", "Reading files"),
    Document("re", "The re module provides regular expression matching. re.search scans a string for a match.", "re"),
    Document("csv", "The csv module reads and writes comma-separated values. csv.reader iterates over rows.", "csv"),
    Document("os", "The os module talks to the operating system: environment variables, processes and paths.", "os"),
    Document("time", "The time module reads clocks. time.perf_counter measures short durations precisely.", "time"),
    Document("sqlite", "The sqlite3 module stores data in a SQLite database file with SQL queries.", "sqlite3"),
    Document("http", "The http.client module sends HTTP requests; urllib.request opens URLs.", "http"),
    Document("math", "The math module has functions like sqrt, sin and log for floating point numbers.", "math"),
    Document("asyncio", "asyncio runs coroutines on an event loop. await suspends a coroutine until a result is ready.",
             "asyncio"),
]
# Document metadata for filter tests: "stdlib" on every doc, "group" a (first five) or b (the rest).
DOCS = [
    Document(d.id, d.text, d.title, {"stdlib": True, "group": "a" if i < 5 else "b"}) for i, d in enumerate(DOCS)
]
QUERIES = ["how do I parse json", "read a file line by line", "regular expression search", "square root of a number"]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("service") / "bundle"
    Engine.build(DOCS, root)
    return root


@pytest.fixture(scope="session")
def engine(bundle: Path) -> Engine:
    return Engine.open(bundle)


@pytest.fixture(scope="session")
def generator() -> Iterator:
    from retrieval.generation import LlamaCppGenerator

    gen = LlamaCppGenerator(threads=1, max_tokens=16)
    yield gen
    gen.close()


@pytest.fixture(scope="session")
def server(engine: Engine, generator) -> Iterator[ServerThread]:
    """The shared server: default limits, no auth (loopback), with the generator."""
    with ServerThread(engine, generator=generator) as running:
        yield running


@pytest.fixture()
def channel(server: ServerThread) -> Iterator[grpc.Channel]:
    with server.channel() as ch:
        yield ch


@pytest.fixture()
def stub(server: ServerThread, channel: grpc.Channel):
    return server.stub(channel)


@pytest.fixture()
def free_port_factory():
    from .harness import free_port

    return free_port
