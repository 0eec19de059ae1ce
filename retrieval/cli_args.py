"""Argument types and option groups shared by the command-line entry points (cli, serve, bench load).

Each type raises ``argparse.ArgumentTypeError`` with the value it got, which argparse turns into
a one-line usage error.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def search_k(text: str) -> int:
    """``-k`` of every command that searches: what ``Engine.search`` accepts (1..MAX_K)."""
    from .engine import MAX_K  # only when -k is given; the command imports the engine anyway

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
