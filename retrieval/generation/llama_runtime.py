"""Importing llama-cpp-python, with the install hint, and keeping llama.cpp off stderr.

llama-cpp-python's own log callback maps llama.cpp's log levels with an outdated table, so
warnings print to stderr even with ``verbose=False`` (e.g. "n_ctx_seq (512) > n_ctx_train (0)"
for every vocabulary-only load). The first time a llama.cpp model is loaded here, a callback is
installed that sends llama.cpp's messages to the ``retrieval.generation.llama_cpp`` logger
instead, at their real level: silent unless the application configures logging. The callback is
process-wide (llama.cpp has one), which is why it is installed on first use, not at import.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from types import ModuleType
from typing import Any

from ..errors import ConfigError

INSTALL_HINT = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install "llama-cpp-python[server]==0.3.36"'
    "  (source build, ~5 min; the flag makes it portable)"
)

logger = logging.getLogger("retrieval.generation.llama_cpp")

# ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the previous line)
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_install_lock = threading.Lock()
# llama-cpp-python points file descriptors 1 and 2 at /dev/null while it loads a model; two loads
# at once would restore each other's descriptors wrongly, so loads take this lock.
load_lock = threading.Lock()
_callback: Any = None  # kept referenced: llama.cpp holds only a raw pointer to it
_last_level = logging.DEBUG


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def import_llama_cpp() -> ModuleType:
    """The ``llama_cpp`` module, its logs routed to Python logging; ``ConfigError`` with the hint if missing."""
    try:
        import llama_cpp
    except ImportError:
        raise ConfigError(f"the llama-cpp generator needs llama-cpp-python: {INSTALL_HINT}") from None
    _route_logs(llama_cpp)
    return llama_cpp


def _route_logs(llama_cpp: ModuleType) -> None:
    global _callback
    with _install_lock:
        if _callback is not None:
            return

        @llama_cpp.llama_log_callback
        def forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
            global _last_level
            try:  # an exception must not escape into C (ctypes would print it to stderr)
                py_level = _last_level if level == 5 else _LEVELS.get(level, logging.DEBUG)
                _last_level = py_level
                message = text.decode("utf-8", errors="replace").rstrip() if text else ""
                if message and logger.isEnabledFor(py_level):
                    logger.log(py_level, "%s", message)
            except Exception:  # pragma: no cover - logging handlers failing
                pass

        llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))
        _callback = forward
