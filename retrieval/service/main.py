"""``retrieval serve DIR``: run the gRPC service until SIGTERM or SIGINT, then drain.

The run loop is ``run_loop.serve(engine, config, generator)``; the command's options and its
setup live in ``retrieval.cli.serve``. ``python -m retrieval.service.main DIR`` runs the
same command on its own. Importing this module is cheap: gRPC loads when the server starts.
"""

from __future__ import annotations

import sys
from typing import Sequence

# The command line of ``serve`` (names kept here for ``retrieval.service``'s public API).
from ..cli.serve import add_parser as add_serve_parser
from ..cli.serve import config_from_args
from ..cli.serve import run as cmd_serve
from .run_loop import serve

__all__ = ["add_serve_parser", "cmd_serve", "config_from_args", "main", "serve"]


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
