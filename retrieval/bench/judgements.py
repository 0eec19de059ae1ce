"""Do the relevance judgements fit the queries and the bundle being evaluated?

A qrels file for another corpus or query set scores nDCG 0 without any other sign, so `eval` and
`bench quality` check first: no usable judgement at all is an error, a partial match a warning
that says how many matched. A judgement is usable when its query is in the queries file and its
document has a (live) chunk in the bundle. Judgements of unknown queries are ignored by the
scoring; those of unknown documents still count as relevant documents that were not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from ..errors import CorpusError


@dataclass(frozen=True)
class JudgementMatch:
    total: int  # judgements in the qrels
    unknown_query: int  # their query is not in the queries file
    unknown_document: int  # their query is known, their document not in the bundle

    @property
    def usable(self) -> int:
        return self.total - self.unknown_query - self.unknown_document

    def warning(self, qrels_name: str, queries_name: str) -> str | None:
        """One line when some judgements do not match, None when all do."""
        if self.usable == self.total:
            return None
        return (
            f"only {self.usable} of {self.total} judgements in {qrels_name} match: {self.unknown_query} name a query "
            f"not in {queries_name} (ignored), {self.unknown_document} a document not in the bundle (counted as missed)"
        )


def match_judgements(
    engine: Any,
    queries: Sequence[tuple[str, str]],
    qrels: Mapping[str, Mapping[str, int]],
    qrels_name: str = "the qrels",
    queries_name: str = "the queries",
) -> JudgementMatch:
    """How many judgements of ``qrels`` name a query of ``queries`` and a document of
    ``engine``'s bundle; ``CorpusError`` when there are none to score with."""
    total = sum(len(docs) for docs in qrels.values())
    if total == 0:
        raise CorpusError(f"{qrels_name}: no relevance judgements")
    if not queries:
        raise CorpusError(f"{queries_name}: no queries")
    query_ids = {qid for qid, _ in queries}
    known_query = [(qid, docs) for qid, docs in qrels.items() if qid in query_ids]
    present = documents_in_bundle(engine, (doc for _, docs in known_query for doc in docs))
    usable = sum(doc in present for _, docs in known_query for doc in docs)
    unknown_query = total - sum(len(docs) for _, docs in known_query)
    match = JudgementMatch(total, unknown_query, total - unknown_query - usable)
    if usable == 0:
        all_present = documents_in_bundle(engine, (doc for docs in qrels.values() for doc in docs))
        in_bundle = sum(doc in all_present for docs in qrels.values() for doc in docs)
        raise CorpusError(
            f"none of the {total} judgements in {qrels_name} names both a query in {queries_name} and a document "
            f"in the bundle ({total - unknown_query} name a known query, {in_bundle} a known document): "
            "are these the qrels of this corpus and these queries?"
        )
    return match


def documents_in_bundle(engine: Any, doc_ids: Iterable[str]) -> set[str]:
    """Those of ``doc_ids`` that have a live chunk in ``engine``'s bundle."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = sorted(set(doc_ids))
    if not wanted:
        return set()
    column = engine.store.all_doc_ids()
    if engine.live is not None:  # deleted documents keep their chunks until compaction
        column = column.take(pa.array(engine.live))
    found = pc.filter(column, pc.is_in(column, value_set=pa.array(wanted, type=pa.string())))
    return set(pc.unique(found).to_pylist())
