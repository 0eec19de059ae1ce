"""mode="auto": BM25's result when the rule stops there, hybrid's when it goes on; deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval import Document, Engine, IndexConfig
from retrieval.config import RoutingConfig
from retrieval.errors import ConfigError
from retrieval.search.routing import route_of, stays_with_bm25, top_spread

TOPICS = {
    "owls": "Owls hunt at night and fly silently on soft feathers.",
    "rivers": "Rivers carry sediment to the sea; deltas form where rivers slow down.",
    "bread": "Bread rises because yeast ferments sugar into carbon dioxide.",
    "volcano": "A volcano erupts when magma rises through cracks in the crust.",
    "comet": "A comet is a ball of ice and dust that grows a tail near the sun.",
    "coral": "Coral reefs are built by tiny animals that live in warm shallow seas.",
    "glacier": "A glacier is a river of ice that moves slowly down a valley.",
    "tide": "Tides rise and fall because the moon pulls on the oceans.",
}
# Sixteen documents, each topic twice with a different second sentence; "group" a/b for filters.
DOCS = [
    Document(f"{name}-{i}", text + (" It is a common topic." if i else " Scientists study it."), name.title(),
             {"group": "a" if i == 0 else "b"})
    for name, text in TOPICS.items() for i in range(2)
]  # fmt: skip
QUERIES = [
    "owls hunt at night", "why does bread rise", "sea", "ice", "what moves slowly", "it is a common topic",
    "scientists", "magma crust volcano erupts", "warm animals", "the moon", "zyzzyva", "river ice sea sun",
]
ROUTING = {"search": {"routing": {"depth": 3, "min_spread": 0.5}}}


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    return Engine.build(DOCS, tmp_path_factory.mktemp("routing") / "bundle", IndexConfig.from_dict(ROUTING))


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Engine:
    return Engine.build(DOCS, tmp_path_factory.mktemp("routing") / "collection", IndexConfig.from_dict(ROUTING), shards=2)


def _ranking(result) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in result.hits]


@pytest.mark.parametrize("filters", [None, {"group": "a"}])
def test_auto_is_bm25_where_it_stops_and_hybrid_where_it_goes_on(engine, filters) -> None:
    routes = []
    for query in QUERIES:
        for k in (1, 3, 10):
            auto = engine.search(query, k, "auto", filters=filters)
            to_bm25 = engine.routes_to_bm25(query, filters)
            expected = engine.search(query, k, "bm25" if to_bm25 else "hybrid", filters=filters)
            assert _ranking(auto) == _ranking(expected), (query, k)
            assert route_of(auto.timings) == ("bm25" if to_bm25 else "hybrid")
            assert ("embed" in auto.timings.stages) == (not to_bm25)  # BM25 alone embeds nothing
            routes.append(to_bm25)
    assert set(routes) == {True, False}  # both branches ran


def test_the_decision_is_deterministic_and_the_same_sharded(engine, collection) -> None:
    first = [engine.routes_to_bm25(q) for q in QUERIES]
    assert [engine.routes_to_bm25(q) for q in QUERIES] == first
    assert [collection.routes_to_bm25(q) for q in QUERIES] == first
    for query in QUERIES:
        sharded, one = collection.search(query, 5, "auto"), engine.search(query, 5, "auto")
        assert [h.id for h in sharded.hits] == [h.id for h in one.hits]
        assert [h.score for h in sharded.hits] == pytest.approx([h.score for h in one.hits], abs=1e-6)
    # No BM25 match at all is never confident: the dense side is all there is.
    assert engine.routes_to_bm25("zyzzyva") is False


def test_the_rule() -> None:
    config = RoutingConfig(min_spread=0.4, depth=3)
    assert top_spread(np.array([10.0, 8.0, 5.0, 1.0]), 3) == pytest.approx(0.5)
    assert top_spread(np.array([10.0, 9.0]), 3) == 1.0  # a missing third hit scores 0
    assert top_spread(np.array([]), 3) == 0.0
    assert stays_with_bm25(np.array([10.0, 8.0, 5.0]), config)
    assert not stays_with_bm25(np.array([10.0, 9.0, 8.0]), config)
    assert not stays_with_bm25(np.array([]), RoutingConfig(min_spread=0.0))


@pytest.mark.parametrize(
    ("routing", "needle"),
    [
        ({"min_spread": 1.5}, "min_spread must be a number in \\[0, 1\\]"),
        ({"min_spread": -0.1}, "min_spread"),
        ({"min_spread": "high"}, "expected a number"),
        ({"depth": 1}, "depth must be an integer in \\[2, 1000\\]"),
        ({"depth": 2.5}, "depth"),
        ({"threshold": 0.3}, "unknown config key"),
    ],
)
def test_bad_routing_values_are_one_line_errors(routing, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        IndexConfig.from_dict({"search": {"routing": routing}})


def test_a_keyword_only_bundle_has_no_auto(tmp_path) -> None:
    from retrieval.errors import QueryError

    engine = Engine.build(DOCS, tmp_path / "kw", IndexConfig(dense=False))
    assert "auto" not in engine.modes
    with pytest.raises(QueryError, match="needs a dense index"):
        engine.search("owls", 3, "auto")
