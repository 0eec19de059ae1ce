"""The BM25 analyzer: text -> list of terms.

Steps, in this order, each switchable in ``AnalyzerConfig``:
lowercase -> regex word split (``token_pattern``) -> stopword removal -> Snowball stemming.

Stopwords are matched case-insensitively (on the lowercased word) before stemming, so "The" is
dropped even with ``lowercase=False``. Empty regex matches are dropped.

Stemming is the hot path: every word goes through a per-analyzer ``word -> term`` cache, so each
distinct word is stopword-checked and stemmed once (SciFact: ~1.2M words, ~30k distinct).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Iterable

from ..config import AnalyzerConfig
from ..errors import ConfigError
from .stopwords import BUILTIN as _BUILTIN_STOPWORDS

# Bound on the word cache so hostile query streams cannot grow it without limit; past it,
# new words are still analyzed correctly, just not remembered.
_CACHE_MAX = 1 << 20


def _load_stemmer_module() -> Any:
    try:
        import Stemmer
    except ImportError:  # pragma: no cover - PyStemmer is a core dependency
        raise ConfigError("stemming needs PyStemmer: pip install PyStemmer") from None
    return Stemmer


def pystemmer_version() -> str | None:
    """Version of the installed PyStemmer, or None when it is missing."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("PyStemmer")
    except PackageNotFoundError:  # pragma: no cover
        return None


class Analyzer:
    """Turns text into BM25 terms according to an ``AnalyzerConfig``.

    Cheap to rebuild from its config; pickling sends only the config (the cache is rebuilt).
    Safe to share between threads: cache misses, the only place the non-thread-safe stemmer is
    touched, run under a lock.
    """

    def __init__(self, config: AnalyzerConfig | None = None) -> None:
        self.config = config = config if config is not None else AnalyzerConfig()
        try:
            pattern = re.compile(config.token_pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"analyzer.token_pattern {config.token_pattern!r} is not a valid regex: {exc}") from None
        if pattern.groups > 1:  # findall would return tuples of groups, not words
            raise ConfigError(
                f"analyzer.token_pattern {config.token_pattern!r} has {pattern.groups} capturing groups; "
                "use at most one (or non-capturing (?:...) groups)"
            )
        self._findall = pattern.findall
        self._stopwords = _resolve_stopwords(config.stopwords)
        self._stemmer = _resolve_stemmer(config.stemmer)
        self._identity = not self._stopwords and self._stemmer is None
        self._cache: dict[str, str] = {}  # word -> term; "" means "dropped" (a stopword)
        self._lock = threading.Lock()

    def __call__(self, text: str) -> list[str]:
        """Analyze one text into its terms, in order (duplicates kept)."""
        if self.config.lowercase:
            text = text.lower()
        words = self._findall(text)
        if self._identity:
            return [w for w in words if w]
        cache = self._cache
        try:
            # Fast path: every word already known (the common case once warmed up).
            terms = list(map(cache.__getitem__, words))
        except KeyError:
            terms = [cache[w] if w in cache else self._miss(w) for w in words]
        # Dropped words (stopwords, empty matches) map to "".
        return list(filter(None, terms))

    def words(self, text: str) -> list[str]:
        """The words of ``text`` before stopword removal and stemming (lowercased if configured)."""
        return self._findall(text.lower() if self.config.lowercase else text)

    def term(self, word: str) -> str:
        """The term of one word from ``words`` ("" when it is dropped), cached."""
        if self._identity:
            return word
        cached = self._cache.get(word)
        return cached if cached is not None else self._miss(word)

    def analyze_many(self, texts: Iterable[str]) -> list[list[str]]:
        """Analyze each text; same as ``[self(t) for t in texts]``."""
        return [self(t) for t in texts]

    def uncached(self, word: str) -> str:
        """The term of one already-split word, computed without the cache ("" = dropped).

        The slow reference the cached path is tested against.
        """
        if not word or word.lower() in self._stopwords:
            return ""
        if self._stemmer is None:
            return word
        with self._lock:
            return self._stemmer.stemWord(word)

    def _miss(self, word: str) -> str:
        term = self.uncached(word)
        if len(self._cache) < _CACHE_MAX:
            self._cache[word] = term
        return term

    def describe(self) -> dict[str, Any]:
        """What went into the terms, for the bundle manifest."""
        cfg = self.config
        return {
            "lowercase": cfg.lowercase,
            "token_pattern": cfg.token_pattern,
            "stopwords": cfg.stopwords if isinstance(cfg.stopwords, str) or cfg.stopwords is None
            else list(cfg.stopwords),
            "stopword_count": len(self._stopwords),
            "stemmer": cfg.stemmer,
            "pystemmer_version": pystemmer_version() if cfg.stemmer is not None else None,
        }

    def __reduce__(self) -> tuple[type, tuple[AnalyzerConfig]]:
        # The stemmer and the lock cannot be pickled; the config rebuilds both.
        return (Analyzer, (self.config,))

    def __repr__(self) -> str:
        return f"Analyzer({self.config!r})"


def _resolve_stopwords(spec: str | tuple[str, ...] | None) -> frozenset[str]:
    if spec is None:
        return frozenset()
    if isinstance(spec, str):
        if spec not in _BUILTIN_STOPWORDS:
            raise ConfigError(
                f"analyzer.stopwords: unknown list {spec!r}; use one of "
                f"{', '.join(sorted(_BUILTIN_STOPWORDS))}, a list of words, or none"
            )
        return frozenset(_BUILTIN_STOPWORDS[spec])
    words = tuple(spec)
    bad = [w for w in words if not isinstance(w, str)]
    if bad:
        raise ConfigError(f"analyzer.stopwords must contain only strings, got {bad[0]!r}")
    return frozenset(w.lower() for w in words)


def _resolve_stemmer(name: str | None) -> Any:
    if name is None:
        return None
    stemmer_module = _load_stemmer_module()
    algorithms = stemmer_module.algorithms()
    if name not in algorithms:
        raise ConfigError(f"analyzer.stemmer: unknown stemmer {name!r}; available: {', '.join(algorithms)}")
    return stemmer_module.Stemmer(name)
