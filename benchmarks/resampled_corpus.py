"""A seeded synthetic corpus of any size, made by resampling sentences of ../shared/data.

    .venv/bin/python benchmarks/resampled_corpus.py --documents 1000000 --out /tmp/c1m.jsonl [--seed 0]

Each document takes 4-14 random sentences of the SciFact abstracts and SQuAD paragraphs and a
title from the first words of another; ids are d0, d1, ... The same (documents, seed) always
gives the same file. Its vocabulary is bounded by the source sentences (~32k BM25 terms), so
posting lists are longer than a natural corpus of the same size would have: the pessimistic case
for keyword search, the one that decides tail latency. 200k documents make ~367k chunks and 29M
postings; 1M make ~1.8M chunks and ~145M postings (1.5 GB of JSONL).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


def source_sentences() -> list[str]:
    sentences: list[str] = []
    with open(DATA / "scifact" / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            sentences.extend(_SENTENCE_END.split(json.loads(line)["text"]))
    squad = json.loads((DATA / "squad" / "dev-v1.1.even-articles.json").read_text(encoding="utf-8"))
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            sentences.extend(_SENTENCE_END.split(paragraph["context"]))
    return [s.strip() for s in sentences if len(s.split()) >= 4]


def write_corpus(path: Path, documents: int, seed: int = 0) -> None:
    """Write the corpus to ``path`` (atomically: a partial file never has the final name)."""
    rng = random.Random(seed)
    pool = source_sentences()
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as out:
        for i in range(documents):
            title = " ".join(rng.choice(pool).split()[:6])
            text = " ".join(rng.choice(pool) for _ in range(rng.randint(4, 14)))
            out.write(json.dumps({"_id": f"d{i}", "title": title, "text": text}) + "\n")
    partial.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.documents < 1:
        parser.error("--documents must be >= 1")
    write_corpus(args.out, args.documents, args.seed)
    print(f"{args.out}: {args.documents:,} documents, seed {args.seed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
