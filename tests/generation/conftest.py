"""Fixtures for the generator tests: the SmolLM2 model loaded once, a real OpenAI-compatible server.

Generators here use one thread: on a 2-core machine shared with other work, llama.cpp's OpenMP
threads wait on each other at every barrier and decoding with 2 threads dropped to 3-60 tok/s
(measured), against a steady ~85 tok/s with 1. Behaviour under test does not depend on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from retrieval.generation import default_model_path

from .http_fakes import free_port

THREADS = 1
SERVER_START_TIMEOUT_S = 90.0


@pytest.fixture(scope="session")
def model_path() -> Path:
    return default_model_path()


@pytest.fixture(scope="session")
def llama_gen(model_path: Path) -> Iterator:
    from retrieval.generation import LlamaCppGenerator

    generator = LlamaCppGenerator(model_path, threads=THREADS)
    yield generator
    generator.close()


@pytest.fixture(scope="session")
def uncached_gen(model_path: Path) -> Iterator:
    from retrieval.generation import LlamaCppGenerator

    generator = LlamaCppGenerator(model_path, threads=THREADS, prefix_cache=False)
    yield generator
    generator.close()


@pytest.fixture(scope="session")
def llama_server(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` on a free port; yields its base URL (``.../v1``).

    A server that does not come up fails the tests that need it, with its stderr: no skipping.
    """
    import httpx

    logs = tmp_path_factory.mktemp("llama_server")
    port = free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path), "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS),
    ]  # fmt: skip
    stdout = open(logs / "stdout.log", "wb")
    stderr = open(logs / "stderr.log", "wb")
    process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base_url = f"http://127.0.0.1:{port}/v1"

    def failure(reason: str) -> str:
        tail = (logs / "stderr.log").read_text(errors="replace")[-4000:]
        return f"llama_cpp.server {reason}; command: {' '.join(command)}\n--- stderr ---\n{tail}"

    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(failure(f"exited with status {process.returncode} before answering"), pytrace=False)
            try:
                if httpx.get(base_url + "/models", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(failure(f"did not answer /v1/models within {SERVER_START_TIMEOUT_S:g} s"), pytrace=False)
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        stdout.close()
        stderr.close()

