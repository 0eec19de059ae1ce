"""``retrieval serve DIR``: run the gRPC service until SIGTERM or SIGINT, then drain.

``serve(engine, config, generator)`` is the run loop (see ``server.py``); the command's options
and its setup live in ``retrieval.cli.serve``. ``python -m retrieval.service.main DIR`` runs the
same command on its own. Importing this module is cheap: gRPC loads when the server starts.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

# The command line of ``serve`` (names kept here for ``retrieval.service``'s public API).
from ..cli.serve import add_parser as add_serve_parser
from ..cli.serve import config_from_args
from ..cli.serve import run as cmd_serve

__all__ = ["add_serve_parser", "cmd_serve", "config_from_args", "main", "serve"]


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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m retrieval.service.main DIR [options]``: ``retrieval serve`` on its own."""
    from ..cli import run_command
    from ..cli.args import Parser
    from ..cli.serve import add_serve_arguments

    parser = Parser(prog="retrieval serve", description="Serve an index bundle over gRPC.")
    add_serve_arguments(parser)
    return run_command(cmd_serve, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
