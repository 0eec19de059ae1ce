"""The CLI package's shape: one module per command, each with ``add_parser`` and ``run``, every one
registered by ``build_parser``; and declaring or parsing imports nothing heavy."""

from __future__ import annotations

import argparse
import pkgutil
import subprocess
import sys
from pathlib import Path

import retrieval.cli
import retrieval.cli.bench
from retrieval.cli import COMMANDS, build_parser, command_module
from retrieval.cli.bench import BENCHES, bench_module

ROOT = Path(__file__).resolve().parents[2]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _modules_defining_add_parser(package) -> set[str]:
    names = set()
    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "__main__":  # importing it runs the command
            continue
        module = __import__(f"{package.__name__}.{info.name}", fromlist=["_"])
        if hasattr(module, "add_parser"):
            names.add(info.name)
    return names


def test_every_command_module_has_add_parser_and_run_and_is_registered():
    parser = build_parser()
    commands = _subcommands(parser)
    assert list(commands) == list(COMMANDS)
    for name in COMMANDS:
        module = command_module(name)
        assert callable(module.add_parser) and callable(module.run), name
        assert commands[name].get_default("run") is module.run, name
    # a module with add_parser that COMMANDS does not list would be a half-added command
    assert _modules_defining_add_parser(retrieval.cli) == set(COMMANDS)


def test_every_bench_module_has_add_parser_and_run_and_is_registered():
    benches = _subcommands(_subcommands(build_parser())["bench"])
    assert list(benches) == list(BENCHES)
    assert set(BENCHES) == {"embed", "sweep", "quality", "compress", "ask", "load", "bm25"}
    for name in BENCHES:
        module = bench_module(name)
        assert callable(module.add_parser) and callable(module.run), name
        assert benches[name].get_default("bench_run") is module.run, name
    assert _modules_defining_add_parser(retrieval.cli.bench) == set(BENCHES)


def test_parsing_every_command_imports_nothing_heavy():
    # -k and --filter values are checked against the engine's bounds, which loads numpy: left out here.
    code = """
import sys
from retrieval.cli import build_parser
parser = build_parser()
for argv in (["index", "c.jsonl", "--out", "b", "--vector-index", "hnsw", "--set", "bm25.k1=1.2"],
             ["search", "b", "text", "--mode", "hybrid"], ["eval", "b", "--queries", "q", "--qrels", "r"],
             ["ask", "b", "q", "--generator", "openai"], ["serve", "b", "--port", "0", "--generator", "none"],
             ["update", "b", "--delete", "x"], ["sync", "b", "postgresql://h/db"], ["compact", "b"],
             ["bench", "load", "--target", "h:1"], ["bench", "sweep", "--fvecs", "f"], ["bench", "embed"]):
    parser.parse_args(argv)
heavy = sorted(m for m in ("numpy", "faiss", "grpc", "onnxruntime", "pyarrow", "tokenizers", "llama_cpp") if m in sys.modules)
assert not heavy, heavy
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
