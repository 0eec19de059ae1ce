"""Reaching a Ray cluster: ``--ray`` alone starts (or joins) a local one, ``--ray ADDRESS`` joins.

An address that does not answer fails in seconds with one line, not after Ray's own long retry
loop: its GCS port is tried first.
"""

from __future__ import annotations

import socket
from typing import Any

from ..errors import ConfigError, RetrievalError

NAMESPACE = "retrieval"
PROBE_TIMEOUT_S = 3.0


class ClusterError(RetrievalError):
    """The Ray cluster cannot be reached or refused the work (the message says which)."""


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'retrieval[ray]'") from None
    return ray


def connect(address: str | None) -> Any:
    """The ``ray`` module, connected: to ``address`` (``host:port`` of the head's GCS, ``ray://``
    for Ray Client, or ``auto``), or to a new local cluster when None."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    if address and address != "auto":
        _probe(address)
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level="ERROR",
                 include_dashboard=False if address is None else None)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Ray cluster at {address or 'a new local cluster'}: {_first_line(exc)}") from None
    return ray


def _probe(address: str) -> None:
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address!r}: expected HOST:PORT (the head's GCS address), ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {reason} (is `ray start --head` running there?)") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
