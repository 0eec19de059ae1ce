"""The ``retrieval`` command: one module per subcommand, each with ``add_parser`` and ``run``.

``add_parser(subparsers)`` declares the command's options and returns its parser; ``run(args)``
does the work and returns the exit status. Declaring and parsing import nothing heavy: each
``run`` imports what it needs. Errors a user can cause print one line on stderr and exit 2;
``--json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import Callable, Sequence

from .args import EXIT_USAGE, Parser

# In the order ``retrieval --help`` lists them; ``bench`` is a group (see ``cli/bench``).
COMMANDS = ("index", "search", "eval", "ask", "serve", "update", "sync", "compact", "bench")

__all__ = ["COMMANDS", "build_parser", "main", "run_command"]


def command_module(name: str) -> ModuleType:
    return importlib.import_module(f".{name}", __name__)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="retrieval", description="An optimized RAG retrieval engine.")
    parser.add_argument("--version", action="version", version=f"retrieval {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        module = command_module(name)
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args.run, args)


def run_command(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``run(args)``, with every failure as one line on stderr and an exit status."""
    from ..errors import RetrievalError

    try:
        return run(args)
    except RetrievalError as exc:
        return _fail(str(exc))
    except OSError as exc:  # unreadable/unwritable paths
        return _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("RETRIEVAL_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (set RETRIEVAL_DEBUG=1 for a traceback)", 1)


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"retrieval: error: {message}", file=sys.stderr)
    return code


def _version() -> str:
    from .. import __version__

    return __version__
