"""The two obvious ways to fit retrieved chunks into a budget, to measure the compressor against.

- ``truncate``: the uncompressed context cut after its first N tokens.
- ``whole_chunks``: whole sources in rank order while they fit (stopping at the first that
  does not), so every kept source is intact.

Both return text whose exact count is within the budget, using only ``count``: the tokenizer
protocol has no way to cut at a token, so ``truncate`` finds the longest fitting character
prefix by binary search (a prefix's count grows with its length, up to the odd merge that the
final check catches).
"""

from __future__ import annotations

from typing import Sequence

from .render import Source, render
from .sentence_cache import Tokenizer


def truncate(text: str, budget: int, tokenizer: Tokenizer) -> str:
    """The longest prefix of ``text`` that counts at most ``budget`` tokens."""
    if tokenizer.count(text) <= budget:
        return text
    lo, hi = 0, len(text)  # count(text[:lo]) <= budget < count(text[:hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tokenizer.count(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid
    prefix = text[:lo]
    while prefix and tokenizer.count(prefix) > budget:  # a non-monotone merge: step back
        prefix = prefix[:-1]
    return prefix


def whole_chunks(sources: Sequence[Source], budget: int, tokenizer: Tokenizer) -> str:
    """The first sources, whole, in rank order, as many as fit."""
    kept: list[Source] = []
    text = ""
    for source in sources:
        candidate = render([*kept, source])
        if tokenizer.count(candidate) > budget:
            break
        kept.append(source)
        text = candidate
    return text
