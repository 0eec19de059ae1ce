"""Argument types, the one-line-error parser and option groups shared by the commands.

Each type raises ``argparse.ArgumentTypeError`` with the value it got, which argparse turns into
a one-line usage error. Nothing here imports more than the standard library at import time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line, not usage + message."""

    def error(self, message: str) -> None:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _int_at_least(text: str, minimum: int, not_int: str, too_small: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {not_int}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {too_small}, got {value}")
    return value


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "an integer", "an integer >= 0")


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "a positive integer", "a positive integer")


def search_k(text: str) -> int:
    """``-k`` of every command that searches: what ``Engine.search`` accepts (1..MAX_K)."""
    from ..bundle.view import MAX_K  # only when -k is given; the command imports it anyway

    value = positive_int(text)
    if value > MAX_K:
        raise argparse.ArgumentTypeError(f"expected a positive integer <= {MAX_K}, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def ratio(text: str) -> float:
    """A finite factor >= 1 (e.g. a compression target)."""
    value = _number(text, "a number >= 1")
    if not 1 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {text}")
    return value


def percent(text: str) -> float:
    """A percentage in [0, 100)."""
    value = _number(text, "a percentage")
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"expected a percentage in [0, 100), got {text}")
    return value


def positive_int_list(text: str) -> list[int]:
    """Comma-separated positive integers, e.g. ``8,16,32``."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        values = [int(part) for part in parts]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return values


def _number(text: str, expected: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text}")
    return value


def port(text: str) -> int:
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {value}")
    return value


def generator_options(args: argparse.Namespace) -> dict[str, Any]:
    """``make_generator`` options from ``--generator``, ``--model``, ``--base-url`` (key: $OPENAI_API_KEY)."""
    if args.generator == "openai":
        options: dict[str, Any] = {"base_url": args.base_url, "api_key": os.environ.get("OPENAI_API_KEY")}
        if args.model:
            options["model"] = args.model
        return options
    return {"model_path": args.model} if args.model else {}


def override(text: str) -> tuple[str, Any]:
    """``--set KEY=VALUE``: the value as JSON when it parses, else the bare string."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw  # bare strings need no quotes
    return key, value


def metadata_filter(text: str) -> tuple[str, tuple[str, ...]]:
    """``--filter KEY=V1[,V2]`` as (key, values)."""
    from ..errors import QueryError
    from ..search.filters import parse_filter_arg

    try:
        return parse_filter_arg(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


FILTER_HELP = ("only documents whose metadata KEY is VALUE (or one of V1,V2); repeat for more keys (AND). "
               "Numbers and booleans compare as their JSON text, e.g. year=2020, draft=false")


def add_filter_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--filter", dest="filters", action="append", type=metadata_filter, default=[], metavar="KEY=V1[,V2]",
                   help=FILTER_HELP)


def add_generator_options(p: Any, choices: tuple[str, ...], help: str | None = None) -> None:
    """``--generator``, ``--model`` and ``--base-url`` (read back by ``generator_options``)."""
    p.add_argument("--generator", choices=choices, default="llama-cpp", help=help)
    p.add_argument("--model", help="llama-cpp: a GGUF file (default SmolLM2-135M-Instruct); openai: the model name")
    p.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
                   help="openai: the endpoint (default $OPENAI_BASE_URL or http://127.0.0.1:8000/v1); key from $OPENAI_API_KEY")
