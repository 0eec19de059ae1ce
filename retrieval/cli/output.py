"""What commands print: one JSON object on stdout for ``--json``, progress lines on stderr."""

from __future__ import annotations

import json
import sys
from typing import Callable


def print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def stderr_progress() -> Callable[[str], None] | None:
    """A progress callback printing lines on stderr when it is a terminal, else None (quiet)."""
    return (lambda line: print(line, file=sys.stderr)) if sys.stderr.isatty() else None
