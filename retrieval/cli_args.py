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


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


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
