"""Term ↔ id mapping for the BM25 index.

Ids are assigned in first-occurrence order over the corpus. That order is part of the scoring
contract: okapi's mean idf is summed in term-id order, exactly as rank-bm25 sums it in its dict's
insertion order, so scores agree to the last bit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import BundleError


class Vocabulary:
    def __init__(self, terms: Iterable[str] = ()) -> None:
        self._ids: dict[str, int] = {}
        for term in terms:
            self._ids.setdefault(term, len(self._ids))

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, term: str) -> bool:
        return term in self._ids

    def add(self, terms: Sequence[str]) -> list[int]:
        """Ids of ``terms``, adding the unseen ones (in order) to the vocabulary."""
        ids = self._ids
        # setdefault evaluates len(ids) before inserting, so a new term gets the next id.
        return [ids.setdefault(t, len(ids)) for t in terms]

    def id(self, term: str) -> int | None:
        return self._ids.get(term)

    def lookup(self, terms: Iterable[str]) -> np.ndarray:
        """Ids of the known terms, in query order; unknown terms score nothing and are dropped."""
        get = self._ids.get
        found = [i for i in map(get, terms) if i is not None]
        return np.array(found, dtype=np.uint32)

    def terms(self) -> list[str]:
        return list(self._ids)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.terms(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        try:
            terms = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read vocabulary {path}: {exc}") from None
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise BundleError(f"vocabulary {path} is not a JSON list of strings")
        vocab = cls(terms)
        if len(vocab) != len(terms):
            raise BundleError(f"vocabulary {path} has duplicate terms")
        return vocab


