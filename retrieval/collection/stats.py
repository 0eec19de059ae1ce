"""Corpus-wide BM25 statistics of a collection: what makes a shard score like the whole corpus.

BM25 scores a chunk with N (live chunks), avgdl (live tokens / N) and each term's document
frequency. Each shard knows its own; the collection's are their sums (document frequencies
summed by term string, since every shard numbers its vocabulary itself). Every shard's BM25 is
opened with these (``segment_stats``), so a chunk scores bit for bit as it does in one bundle
over the same live chunks; merging the shards' top lists then gives that bundle's ranking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BundleError
from .layout import DF_FILE, TERMS_FILE


@dataclass(frozen=True)
class TermStats:
    """One shard's (or the corpus's) live statistics: ``df[i]`` is ``terms[i]``'s document frequency."""

    terms: list[str]
    df: np.ndarray  # uint32
    n_docs: int
    total_tokens: int

    @property
    def postings(self) -> int:
        return int(self.df.sum(dtype=np.uint64))


def shard_term_stats(root: Path, manifest: Any) -> TermStats:
    """A shard bundle version's live statistics, read from its files (base, and delta if updated)."""
    from ..bundle.delta import load_array, load_new_terms
    from ..bundle.layout import BM25_DIR, BM25_VOCAB_FILE
    from ..bundle.opening import base_dir
    from ..keyword.vocabulary import Vocabulary

    base = base_dir(root, manifest)
    terms = Vocabulary.load(base / BM25_DIR / BM25_VOCAB_FILE).terms()
    section = manifest.delta
    if section is None:
        df = np.asarray(load_array(base / BM25_DIR / "df.npy"), dtype=np.uint32)
        lengths = load_array(base / BM25_DIR / "doc_lengths.npy")
        return TermStats(terms, df, int(len(lengths)), int(np.asarray(lengths).sum(dtype=np.uint64)))
    delta = root / section.dir
    terms = terms + load_new_terms(delta)
    df = np.asarray(load_array(delta / "df.npy", mmap=False), dtype=np.uint32)
    if len(df) != len(terms):
        raise BundleError(f"{delta / 'df.npy'} has {len(df)} entries for {len(terms)} terms")
    return TermStats(terms, df, int(section.live_docs), int(section.live_tokens))


def merge(shards: Sequence[TermStats]) -> TermStats:
    """The corpus's statistics: sums over the shards; only terms with live documents, sorted."""
    totals: dict[str, int] = {}
    for shard in shards:
        for term, count in zip(shard.terms, shard.df.tolist()):
            if count:
                totals[term] = totals.get(term, 0) + count
    terms = sorted(totals)
    df = np.fromiter((totals[t] for t in terms), dtype=np.uint32, count=len(terms))
    return TermStats(terms, df, sum(s.n_docs for s in shards), sum(s.total_tokens for s in shards))


class CorpusStats:
    """The corpus's statistics, with a term -> position table for aligning a shard's vocabulary."""

    def __init__(self, stats: TermStats) -> None:
        self.stats = stats
        self._position = {t: i for i, t in enumerate(stats.terms)}

    @property
    def n_docs(self) -> int:
        return self.stats.n_docs

    @property
    def total_tokens(self) -> int:
        return self.stats.total_tokens

    def ids(self, words: Sequence[str]) -> np.ndarray:
        """Corpus term ids of ``words`` that the corpus has, in order (duplicates kept)."""
        pos = self._position
        return np.array([pos[w] for w in words if w in pos], dtype=np.uint32)

    def segment_stats(self, vocabulary: Sequence[str]) -> dict[str, Any]:
        """What ``BM25Index.from_arrays(stats=...)`` takes for a shard numbering its terms as
        ``vocabulary``: the corpus's df of each of them (0 for terms whose documents are all
        deleted), followed by the corpus's other terms (okapi's epsilon floor averages over
        every term of the corpus)."""
        pos = self._position
        df = self.stats.df
        at = np.fromiter((pos.get(t, -1) for t in vocabulary), dtype=np.int64, count=len(vocabulary))
        own = np.where(at >= 0, df[np.maximum(at, 0)] if len(df) else 0, 0).astype(np.uint32)
        rest = np.ones(len(df), dtype=bool)
        rest[at[at >= 0]] = False
        return {"n_docs": self.n_docs, "total_tokens": self.total_tokens, "df": np.concatenate([own, df[rest]])}

    def idf(self, params: Any) -> np.ndarray:
        """float64 idf of every corpus term id (``ids``), as the native index computes it."""
        from ..native import BM25Index

        # One tiny index opened with the corpus's stats computes the idf table natively.
        empty = BM25Index.build(np.zeros(1, dtype=np.uint64), np.zeros(0, dtype=np.uint32), len(self.stats.df),
                                variant=params.variant, k1=params.k1, b=params.b, epsilon=params.epsilon)
        stats = {"n_docs": self.n_docs, "total_tokens": self.total_tokens, "df": self.stats.df}
        opened = BM25Index.from_arrays(empty.arrays(), params.variant, params.k1, params.b, params.epsilon, stats=stats)
        return np.array(opened.arrays()["idf"], dtype=np.float64)


def write_stats(directory: Path, stats: TermStats) -> None:
    (directory / TERMS_FILE).write_text(json.dumps(stats.terms, ensure_ascii=False), encoding="utf-8")
    np.save(directory / DF_FILE, stats.df.astype(np.uint32), allow_pickle=False)


def read_stats(directory: Path, n_docs: int, total_tokens: int) -> TermStats:
    try:
        terms = json.loads((directory / TERMS_FILE).read_text(encoding="utf-8"))
        df = np.load(directory / DF_FILE, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the collection statistics in {directory}: {exc}") from None
    if not isinstance(terms, list) or df.dtype != np.uint32 or df.shape != (len(terms),):
        raise BundleError(f"{directory}: {TERMS_FILE} and {DF_FILE} do not match")
    return TermStats(terms, df, n_docs, total_tokens)
