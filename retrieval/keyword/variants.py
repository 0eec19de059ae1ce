"""The BM25 variants: the one list of names ``bm25.variant`` accepts.

Config validation, the numpy reference scorer and the tests that run over every variant read
this list. Each variant is implemented in the native core (``cpp_ext``), which stores it in a
bundle as a numeric code. Cheap to import: no numpy, no native module.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BM25Variant:
    name: str
    code: float  # how the native index records it (bm25/params.npy[0])
    summary: str


BM25_VARIANTS: dict[str, BM25Variant] = {
    variant.name: variant
    for variant in (
        BM25Variant("lucene", 0.0, "Lucene's BM25: idf = log(1 + (N - df + 0.5) / (df + 0.5)), never negative"),
        BM25Variant("okapi", 1.0, "rank-bm25's BM25Okapi exactly: negative idf floored at epsilon * mean idf"),
    )
}


def variant_names() -> tuple[str, ...]:
    """Every variant name (read when called: the registry is the source)."""
    return tuple(BM25_VARIANTS)

