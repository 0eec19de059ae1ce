"""``retrieval bench ...``: one module per benchmark, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
import importlib
from types import ModuleType
from typing import Any

from ..args import Parser

# In the order ``retrieval bench --help`` lists them.
BENCHES = ("embed", "sweep", "quality", "compress", "ask", "load", "bm25")


def bench_module(name: str) -> ModuleType:
    return importlib.import_module(f".{name}", __name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("bench", help="benchmarks against the libraries people use instead")
    bench_sub = p.add_subparsers(dest="bench", required=True, parser_class=Parser)
    for name in BENCHES:
        module = bench_module(name)
        module.add_parser(bench_sub).set_defaults(bench_run=module.run)
    return p


def run(args: argparse.Namespace) -> int:
    return args.bench_run(args)
