"""What the compressor remembers per sentence (token count, BM25 term ids) and per chunk (tokens).

Both cost a tokenizer/analyzer pass over the text, and the same chunks come back query after
query, so they are computed once and kept in a bounded, thread-safe LRU. A sentence's key is
``(tokenizer fingerprint, chunk row, sentence start)``, a whole chunk's
``(tokenizer fingerprint, chunk row, -1)`` and a source header's
``(tokenizer fingerprint, "header", number, title)``: text is identified by where it sits in the
bundle, and counts made by one tokenizer are never served for another.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Hashable, Protocol, Sequence

import numpy as np


class Tokenizer(Protocol):
    """Counts tokens exactly as the model that reads the context will see them.

    ``retrieval.text.TokenCounter`` (the embedder's tokens) and the generator's tokenizer
    (``retrieval.generation``) both fit.
    """

    @property
    def fingerprint(self) -> str: ...

    def count(self, text: str) -> int: ...

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


@dataclass(frozen=True)
class SentenceFacts:
    tokens: int  # tokens of the sentence preceded by a space, as it sits inside a rendered source
    terms: np.ndarray  # distinct BM25 term ids (uint32, sorted)


class SentenceCache:
    """LRU of ``SentenceFacts`` (sentences) and ints (chunk token counts); ``capacity`` 0 disables it."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[Hashable]) -> list[Any]:
        """The cached value per key, None where there is none."""
        with self._lock:
            data = self._data
            found = [data.get(key) for key in keys]
            for key, facts in zip(keys, found):
                if facts is not None:
                    data.move_to_end(key)
            hit = sum(f is not None for f in found)
            self.hits += hit
            self.misses += len(found) - hit
            return found

    def put_many(self, keys: Sequence[Hashable], values: Sequence[Any]) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            data = self._data
            for key, facts in zip(keys, values):
                data[key] = facts
                data.move_to_end(key)
            while len(data) > self.capacity:
                data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)
