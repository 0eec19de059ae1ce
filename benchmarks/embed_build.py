"""Dense builds before and after in the same run: wall time, stages, and SciFact nDCG@10 per mode.

    .venv/bin/python benchmarks/embed_build.py --baseline-cli ".venv/bin/python /tmp/before/run_cli.py" \
        [--corpus ../shared/data/scifact] [--contextual] [--int8] [--no-eval] [--workdir DIR] [--json]

Each build is `retrieval index CORPUS --out DIR --overwrite --json` (the default configuration:
dense, sentence index included) in a child process, one after another: the baseline CLI (an older
checkout, e.g. one made with `git worktree add /tmp/before <commit>` plus a `run_cli.py` that
imports that checkout's package), then ours. A tiny warm-up build runs first with each CLI so a
model export is not timed. Each bundle is then scored by its own CLI with `retrieval eval` on the
SciFact test claims for every mode (``--no-eval``: not, e.g. for a subset of the corpus).
``--contextual`` also builds ours with ``sentence_vectors=contextual`` (sentence vectors pooled
from each chunk's forward pass); ``--int8`` with that and ``embedding.variant=int8``. Results go
to ``benchmarks/results/embed_build.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = ("bm25", "dense", "hybrid", "prefilter")


def run_json(cli: list[str], *args: str) -> dict:
    done = subprocess.run([*cli, *args, "--json"], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def build(cli: list[str], corpus: Path, out: Path, overrides: list[str]) -> dict:
    started = time.perf_counter()
    result = run_json(cli, "index", str(corpus), "--out", str(out), "--overwrite", *overrides)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text())
    sentences = manifest.get("sentences") or {}
    return {
        "wall_s": round(wall, 1),
        "chunks": result["chunks"],
        "sentences": sentences.get("count"),
        "sentence_vectors": sentences.get("vectors", "separate"),
        "stages_s": manifest.get("build_stages_s"),
    }


def scores(cli: list[str], bundle: Path, corpus: Path) -> dict[str, float]:
    out = {}
    for mode in MODES:
        result = run_json(cli, "eval", str(bundle), "--queries", str(corpus / "queries.jsonl"),
                          "--qrels", str(corpus / "qrels" / "test.tsv"), "--mode", mode)
        out[mode] = round(float(result["ndcg@10"]), 4)
    return out


def warm_up(cli: list[str], work: Path, overrides: list[str]) -> None:
    """A three-document build: any model export (or quantization) happens here, untimed."""
    tiny = work / "tiny.jsonl"
    tiny.write_text("".join(json.dumps({"id": f"t{i}", "title": "", "text": f"Warm-up text {i}. It is short."}) + "\n" for i in range(3)))
    run_json(cli, "index", str(tiny), "--out", str(work / "tiny-bundle"), "--overwrite", *overrides)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    parser.add_argument("--baseline-cli", help="the CLI of the code to compare against, e.g. 'python /old/run_cli.py'")
    parser.add_argument("--contextual", action="store_true", help="also build ours with sentence_vectors=contextual")
    parser.add_argument("--int8", action="store_true", help="also build ours with contextual sentences and embedding.variant=int8")
    parser.add_argument("--no-eval", action="store_true", help="build only (no retrieval eval)")
    parser.add_argument("--workdir", help="where the bundles go (default: a temporary directory)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "embed_build.json"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus).resolve()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="embed-build-"))
    work.mkdir(parents=True, exist_ok=True)
    ours = [sys.executable, "-m", "retrieval.cli"]
    runs: list[tuple[str, list[str], list[str]]] = []
    if args.baseline_cli:
        runs.append(("baseline", shlex.split(args.baseline_cli), []))
    runs.append(("ours", ours, []))
    contextual = ["--set", "sentence_vectors=contextual"]
    if args.contextual:
        runs.append(("ours-contextual", ours, contextual))
    if args.int8:
        runs.append(("ours-contextual-int8", ours, [*contextual, "--set", "embedding.variant=int8"]))
    for _, cli, overrides in runs:
        warm_up(cli, work, overrides)
    results = {}
    for name, cli, overrides in runs:
        results[name] = build(cli, corpus, work / f"bundle-{name}", overrides)
        print(f"{name}: {results[name]}", file=sys.stderr)
    for name, cli, _ in [] if args.no_eval else runs:
        results[name]["ndcg@10"] = scores(cli, work / f"bundle-{name}", corpus)
        print(f"{name}: nDCG@10 {results[name]['ndcg@10']}", file=sys.stderr)
    if "baseline" in results:
        results["wall_over_baseline"] = {name: round(r["wall_s"] / results["baseline"]["wall_s"], 3) for name, r in results.items()}
    report = {"corpus": str(corpus), "runs": results, "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
