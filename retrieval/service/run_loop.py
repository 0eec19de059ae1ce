"""The service's run loop: start, serve until SIGTERM or SIGINT (or the server ends), drain, stop.

``retrieval serve`` (``retrieval.cli.serve``) opens the bundle and the generator, then runs this.
"""

from __future__ import annotations

from typing import Any


async def serve(engine: Any, config: Any, generator: Any = None) -> int:
    """Start, serve until SIGTERM or SIGINT (or the server ends), drain and stop."""
    import asyncio
    import signal

    from .server import RetrievalServer

    server = RetrievalServer(engine, config, generator=generator)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_requested.set)
    try:
        stopping = asyncio.ensure_future(stop_requested.wait())
        starting = asyncio.ensure_future(server.start())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start raises here
            # Not cancelled below: cancelling gRPC's termination wait would break its shutdown.
            running = asyncio.ensure_future(server.wait_for_termination())
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            await server.stop()
            await running
        else:
            starting.cancel()  # a signal during warm-up
            await asyncio.gather(starting, return_exceptions=True)
            await server.stop()
        stopping.cancel()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0
