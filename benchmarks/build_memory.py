"""Peak RSS and wall time of index builds of a large synthetic corpus (keyword-only by default).

    .venv/bin/python benchmarks/build_memory.py --documents 100000 [--dense] [--bm25s] [--baseline-cli CMD] [--json]

The corpus is made by resampling sentences of ../shared/data (SciFact abstracts and SQuAD
paragraphs), seeded: each document takes 4-14 random sentences and a title from the first words of
another. Its vocabulary is bounded by the source sentences, so posting lists are longer than a
natural corpus of the same size would have (the pessimistic case).

With ``--bm25s``, bm25s's own keyword pipeline (its tokenizer with English stopwords and the
Snowball stemmer, then its index, saved) runs on the same corpus too, for comparison.

Each build runs `retrieval index CORPUS --out DIR --no-dense --json` in a child process (with
``--dense``: without ``--no-dense``, so chunks and their sentences are embedded with the offline
model and the vector index is built; slow on CPU, ~25k documents is a sensible size); the peak
RSS is the child's (``ru_maxrss`` from ``wait4``), the bundle's size is what it holds on disk. With
``--baseline-cli``, the same build also runs with another command line for the CLI (e.g. an older
checkout's), alternating, so both are measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from resampled_corpus import write_corpus  # noqa: E402  (the corpus this benchmark builds)


def build(cli: list[str], corpus: Path, out: Path, dense: bool = False) -> dict[str, float]:
    """One build (keyword-only unless ``dense``) in a child process: its wall time, peak RSS and bundle size."""
    shutil.rmtree(out, ignore_errors=True)
    command = [*cli, "index", str(corpus), "--out", str(out), *([] if dense else ["--no-dense"]), "--json"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    stdout, stderr = child.stdout.read(), child.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed: {stderr.strip()}")
    result = json.loads(stdout)
    bundle_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak / 2**20, 1),
        "bundle_mb": round(bundle_bytes / 2**20, 1),
        "peak_over_bundle": round(peak / bundle_bytes, 2),
        "peak_bytes_per_chunk": round(peak / result["chunks"]),
        "chunks": result["chunks"],
        "documents": result["documents"],
    }


_BM25S_BUILD = """
import json, sys
import bm25s, Stemmer
texts = []
with open(sys.argv[1], encoding="utf-8") as handle:
    for line in handle:
        row = json.loads(line)
        texts.append(f"{row.get('title', '')} {row['text']}")
tokens = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)
del texts
retriever = bm25s.BM25()
retriever.index(tokens, show_progress=False)
retriever.save(sys.argv[2])
print(json.dumps({"chunks": len(tokens.ids)}))
"""


def build_bm25s(corpus: Path, out: Path) -> dict[str, float]:
    """bm25s's own pipeline on the same corpus, in a child process: read the JSONL, its tokenizer
    (English stopwords, Snowball stemmer), index, save. Its wall time, peak RSS and index size."""
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", _BM25S_BUILD, str(corpus), str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bm25s build failed: {child.stderr.read().strip()}")
    index_bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "index_mb": round(index_bytes / 2**20, 1), "documents": json.loads(child.stdout.read())["chunks"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dense", action="store_true", help="build the dense index and sentence index too")
    parser.add_argument("--baseline-cli", help="the CLI of the code to compare against, e.g. 'python /old/run_cli.py'")
    parser.add_argument("--bm25s", action="store_true", help="also build bm25s's index of the same corpus (keyword only)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workdir", help="where the corpus and bundles go (default: a temporary directory)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="build-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / f"corpus-{args.documents}-{args.seed}.jsonl"
    if not corpus.exists():
        write_corpus(corpus, args.documents, args.seed)
    runs: dict[str, list[dict[str, float]]] = {"ours": []}
    if args.baseline_cli:
        runs["baseline"] = []
    if args.bm25s and not args.dense:
        runs["bm25s"] = []
    for _ in range(args.repeats):
        for name in runs:
            if name == "bm25s":
                runs[name].append(build_bm25s(corpus, work / "bm25s-index"))
            else:
                cli = [sys.executable, "-m", "retrieval.cli"] if name == "ours" else shlex.split(args.baseline_cli)
                runs[name].append(build(cli, corpus, work / f"bundle-{name}", args.dense))
            print(f"{name}: {runs[name][-1]}", file=sys.stderr)
    result = {
        "documents": args.documents,
        "seed": args.seed,
        "dense": args.dense,
        "corpus_mb": round(corpus.stat().st_size / 2**20, 1),
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
