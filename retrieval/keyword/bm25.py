"""BM25 keyword search: analyzer + vocabulary + the native index, with save/load.

The scoring itself lives in C++ (``retrieval._native.BM25Index``); this module turns query text
into term ids and persists the index as memory-mappable ``.npy`` arrays.
"""

from __future__ import annotations

import array
import json
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..bundle.layout import BM25_PARAMS_FILE, BM25_VOCAB_FILE
from ..config import AnalyzerConfig, BM25Config
from ..errors import BundleError
from ..text import Analyzer
from .protocol import KeywordIndex
from .vocabulary import Vocabulary

WORD_CACHE_MAX = 1_000_000


class WordIds:
    """Word -> term id (-1: the word gives no term), one dict hit a known word. ``resolve`` computes
    a word seen for the first time; at most WORD_CACHE_MAX words are remembered, so a hostile
    query stream cannot grow it without limit (past it, words are resolved every time)."""

    def __init__(self, resolve: Callable[[str], int]) -> None:
        self._ids: dict[str, int] = {}
        self._resolve = resolve

    def of(self, words: list[str]) -> list[int]:
        cache = self._ids
        try:
            return list(map(cache.__getitem__, words))  # the common case: every word known
        except KeyError:
            return [cache[w] if w in cache else self._miss(w) for w in words]

    def _miss(self, word: str) -> int:
        term_id = self._resolve(word)
        if len(self._ids) < WORD_CACHE_MAX:
            self._ids[word] = term_id
        return term_id


# The resolvers close over the analyzer and vocabulary, not their owner: a bound method would
# make a reference cycle, and a dropped index would then wait for the garbage collector.
def _new_word_id(analyzer: Analyzer, vocabulary: Vocabulary, word: str) -> int:
    term = analyzer.term(word)
    return vocabulary.add([term])[0] if term else -1


def _known_word_id(analyzer: Analyzer, vocabulary: Vocabulary, word: str) -> int:
    term = analyzer.term(word)
    found = vocabulary.id(term) if term else None
    return -1 if found is None else found


class BM25Builder:
    """Accumulates analyzed documents into a native index; ``build()`` (once) finishes it.

    Term ids wait in a small buffer that is flushed to a ``PostingsAccumulator``, which encodes
    them into compressed postings as they arrive: a build's memory grows with the index, not with
    the corpus's tokens.
    """

    # Ids and offsets buffered before a flush (at most 8 MiB); large enough that a flush's
    # per-call overhead is nothing next to encoding the tokens.
    FLUSH_ENTRIES = 1 << 20

    def __init__(self, analyzer: Analyzer, config: BM25Config) -> None:
        from ..native import PostingsAccumulator

        self.analyzer = analyzer
        self.config = config
        self.vocabulary = Vocabulary()
        self._word_ids = WordIds(partial(_new_word_id, analyzer, self.vocabulary))
        self._postings = PostingsAccumulator()
        self._built = False
        self._new_buffer()

    def _new_buffer(self) -> None:
        # Packed machine integers (4 bytes a token, not a Python int each), handed over without a copy.
        self._ids = array.array("I")
        self._offsets = array.array("Q", [0])

    def add(self, text: str) -> None:
        """``add_terms(analyzer(text))``, with one dict lookup a word instead of the analyzer's
        cache, its filter and the vocabulary's: a word's term id never changes during a build."""
        self._check_open()
        ids = self._word_ids.of(self.analyzer.words(text))
        if -1 in ids:  # dropped words (stopwords, empty matches)
            ids = [i for i in ids if i >= 0]
        self._append(ids)

    def add_terms(self, terms: Sequence[str]) -> None:
        self._check_open()
        self._append(self.vocabulary.add(terms))

    def _append(self, ids: list[int]) -> None:
        self._ids.extend(ids)
        self._offsets.append(len(self._ids))
        if len(self._ids) + len(self._offsets) >= self.FLUSH_ENTRIES:
            self._flush()

    def _flush(self) -> None:
        offsets = np.frombuffer(self._offsets, dtype=np.uint64)
        # An empty buffer's address need not be aligned, which the native side refuses.
        ids = np.frombuffer(self._ids, dtype=np.uint32) if len(self._ids) else np.zeros(0, dtype=np.uint32)
        self._postings.add_batch(offsets, ids)
        self._new_buffer()

    def _check_open(self) -> None:
        if self._built:  # the accumulator handed its postings to the index: a later add would go nowhere
            raise RuntimeError("this BM25Builder has already built its index; start a new builder")

    def build(self, n_threads: int = 1) -> "BM25":
        self._check_open()
        self._flush()
        self._built = True
        index = self._postings.finish(
            len(self.vocabulary),
            variant=self.config.variant,
            k1=self.config.k1,
            b=self.config.b,
            epsilon=self.config.epsilon,
            n_threads=n_threads,
        )
        return BM25(self.analyzer, self.vocabulary, index, self.config)


class BM25:
    """A searchable BM25 index over documents numbered 0..n-1 in the order they were added."""

    def __init__(self, analyzer: Analyzer, vocabulary: Vocabulary, index: KeywordIndex, config: BM25Config) -> None:
        self.analyzer = analyzer
        self.vocabulary = vocabulary
        self.index = index
        self.config = config
        # Query word -> term id (-1: dropped or not in the corpus). One dict hit per word instead
        # of stem-cache + vocabulary lookups: the vocabulary never changes under an open index.
        self._word_ids = WordIds(partial(_known_word_id, analyzer, vocabulary))

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], analyzer: Analyzer | None = None, config: BM25Config | None = None
    ) -> "BM25":
        builder = BM25Builder(analyzer or Analyzer(AnalyzerConfig()), config or BM25Config())
        for text in texts:
            builder.add(text)
        return builder.build()

    @property
    def n_docs(self) -> int:
        return int(self.index.n_docs)

    def query_ids(self, query: str) -> np.ndarray:
        """Term ids of the query's known terms, in query order (duplicates kept)."""
        return self.ids_of_words(self.analyzer.words(query))

    def ids_of_words(self, words: list[str]) -> np.ndarray:
        """``query_ids`` of words the analyzer already split (``analyzer.words``): a sharded
        collection splits a query once and looks its words up in every shard's vocabulary."""
        ids = self._word_ids.of(words)
        return np.array([i for i in ids if i >= 0], dtype=np.uint32)

    def search(self, query: str, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (ids, scores), best first; only documents sharing a term with the query."""
        return self.index.topk(self.query_ids(query), k)

    def search_batch(self, queries: Sequence[str], k: int = 10, n_threads: int = 0):
        """(ids [nq,k] padded with -1, scores [nq,k] padded with -inf, counts [nq])."""
        return self.search_terms_batch([self.query_ids(q) for q in queries], k, n_threads)

    def search_terms_batch(self, parts: Sequence[np.ndarray], k: int = 10, n_threads: int = 0):
        """``search_batch`` for queries already turned into term ids (``query_ids``)."""
        offsets = np.zeros(len(parts) + 1, dtype=np.uint64)
        np.cumsum([len(p) for p in parts], out=offsets[1:])
        tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint32)
        return self.index.topk_batch(offsets, tokens.astype(np.uint32, copy=False), k, n_threads)

    def matching(self, query: str) -> np.ndarray:
        """Every document id containing at least one query term (for pre-filtering)."""
        return self.index.matching(self.query_ids(query))

    def save(self, directory: Path) -> None:
        save_index_arrays(self.index, directory)
        self.vocabulary.save(directory / BM25_VOCAB_FILE)
        params = {"config": asdict(self.config), "analyzer": asdict(self.analyzer.config)}
        (directory / BM25_PARAMS_FILE).write_text(json.dumps(params, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> "BM25":
        from ..native import BM25Index

        try:
            params = json.loads((directory / BM25_PARAMS_FILE).read_text(encoding="utf-8"))
            config = BM25Config(**params["config"])
            analyzer = Analyzer(AnalyzerConfig(**params["analyzer"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"cannot read BM25 parameters in {directory}: {exc}") from None
        arrays = load_index_arrays(directory, mmap)
        try:
            index = BM25Index.from_arrays(arrays, config.variant, config.k1, config.b, config.epsilon)
        except (ValueError, TypeError, KeyError) as exc:
            raise BundleError(f"corrupt BM25 index in {directory}: {exc}") from None
        return cls(analyzer, Vocabulary.load(directory / BM25_VOCAB_FILE), index, config)


def load_index_arrays(directory: Path, mmap: bool = True) -> dict[str, np.ndarray]:
    """The native index's arrays saved in ``directory`` (``BM25.save``), memory-mapped."""
    arrays = {}
    for path in sorted(directory.glob("*.npy")):
        try:
            arrays[path.stem] = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {path}: {exc}") from None
    return arrays


def save_index_arrays(index: KeywordIndex, directory: Path) -> None:
    """Save a native index's arrays as ``.npy`` files (what ``load_index_arrays`` reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, values in index.arrays().items():
        np.save(directory / f"{name}.npy", np.asarray(values), allow_pickle=False)
