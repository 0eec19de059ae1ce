"""The search modes: the one list of mode names users can pass.

The command line's ``--mode`` choices, the service's request validation and the planner all read
``SEARCH_MODES``, and the planner keeps one handler per entry (a test checks they match). Cheap to
import: no numpy, so the command line can read the names while it parses its arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import FusionConfig

# Per-call parameters of the planner itself (the vector index validates its own).
FUSION_PARAMS = frozenset(f.name for f in dataclasses.fields(FusionConfig))
PREFILTER_PARAMS = frozenset({"exact_max"})


@dataclass(frozen=True)
class SearchMode:
    name: str
    needs_dense: bool  # embeds the query and searches the vector index (not in keyword-only bundles)
    params: frozenset[str]  # the planner's per-call parameters it reads, besides the vector index's
    summary: str


SEARCH_MODES: dict[str, SearchMode] = {
    mode.name: mode
    for mode in (
        SearchMode("bm25", False, frozenset(), "analyze → BM25 top-k"),
        SearchMode("dense", True, frozenset(), "embed → vector index top-k"),
        # candidates (N) is a fusion field
        SearchMode("hybrid", True, FUSION_PARAMS, "BM25 top-N and vector top-N → fusion → top-k"),
        SearchMode("prefilter", True, frozenset({"candidates"}) | PREFILTER_PARAMS,
                   "BM25 top-N candidates → dense search restricted to them → top-k"),
        SearchMode("auto", True, FUSION_PARAMS,
                   "BM25 top-N; its top-k when its scores spread wide (search.routing), else hybrid"),
    )
}


def mode_names() -> tuple[str, ...]:
    """Every mode name, in the order users see them (read when called: the registry is the source)."""
    return tuple(SEARCH_MODES)


def available_modes(dense: bool) -> tuple[str, ...]:
    """The modes a bundle offers: all of them with a dense index, else the keyword-only ones."""
    return tuple(name for name, mode in SEARCH_MODES.items() if dense or not mode.needs_dense)
