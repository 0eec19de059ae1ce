"""The registries are the single source of the names users can pass: vector index kinds
(``retrieval.vector.registry``), search modes (``retrieval.search.modes``) and BM25 variants
(``retrieval.keyword.variants``). Config validation, the service's request validation and the
command line's choices read them, so adding an entry to a registry is enough."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import BM25Config, IndexConfig, VectorConfig
from retrieval.errors import ConfigError, QueryError
from retrieval.keyword import variants as bm25_variants
from retrieval.native import BM25Index, bm25_scores_reference
from retrieval.search import modes as search_modes
from retrieval.search.planner import MODE_HANDLERS, Planner
from retrieval.service.validation import RequestRules
from retrieval.vector import registry
from retrieval.vector.flat import FlatIndex

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (so registrations and imports do not leak) and return
    the JSON object it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_reading_the_names_imports_nothing_heavy():
    """The command line reads the registries while it parses its arguments."""
    loaded = _python(
        """
        import json, sys
        from retrieval.vector.registry import available_kinds
        from retrieval.search.modes import mode_names
        from retrieval.keyword.variants import variant_names
        import retrieval.config
        names = [available_kinds(), mode_names(), variant_names()]
        heavy = [m for m in ("numpy", "faiss", "retrieval._native", "onnxruntime") if m in sys.modules]
        print(json.dumps({"names": names, "heavy": heavy}))
        """
    )
    assert loaded["heavy"] == []
    assert loaded["names"] == [list(registry.available_kinds()), list(search_modes.mode_names()),
                               list(bm25_variants.variant_names())]


# --------------------------------------------------------------------------- vector kinds


class _Flat2Index(FlatIndex):
    kind = "flat2"


@pytest.fixture
def fresh_registry(monkeypatch):
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(registry, "_KINDS", dict(registry._KINDS))


def test_a_registered_vector_kind_is_accepted_by_config_and_create_index(fresh_registry):
    registry.register(_Flat2Index)
    assert registry.available_kinds()[-1] == "flat2"
    assert VectorConfig(kind="flat2").kind == "flat2"
    assert IndexConfig.from_dict({"vector": {"kind": "flat2"}}).vector.kind == "flat2"
    index = registry.create_index("flat2", 4).build(np.eye(4, dtype=np.float32))
    assert type(index) is _Flat2Index and index.search(np.eye(4, dtype=np.float32)[:1], 1)[1].tolist() == [[0]]


def test_config_refuses_a_kind_the_registry_does_not_hold():
    with pytest.raises(ConfigError, match="vector.kind must be one of auto, " + ", ".join(registry.available_kinds())):
        VectorConfig(kind="flat2")


def test_a_kind_registered_by_path_is_imported_on_first_use(fresh_registry):
    registry.register_path("flat2", f"{__name__}:_Flat2Index")
    assert registry._KINDS["flat2"] == f"{__name__}:_Flat2Index"  # named, not imported yet
    assert "flat2" in registry.available_kinds()
    assert registry.index_class("flat2") is _Flat2Index
    registry.register_path("flat3", f"{__name__}:_Flat2Index")  # its kind says flat2
    with pytest.raises(ValueError, match="registered as 'flat3'"):
        registry.index_class("flat3")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_path("flat", f"{__name__}:_Flat2Index")


def test_every_registered_kind_is_the_class_its_name_says():
    for kind in registry.available_kinds():
        assert registry.index_class(kind).kind == kind


# --------------------------------------------------------------------------- search modes


def test_the_planner_has_a_handler_for_every_mode_and_no_other():
    assert list(MODE_HANDLERS) == list(search_modes.mode_names())
    assert all(callable(getattr(Planner, name, None)) for name in MODE_HANDLERS.values())


def test_service_validation_reads_the_mode_registry(monkeypatch):
    extra = search_modes.SearchMode("bm25b", False, frozenset({"candidates"}), "a keyword mode added to the registry")
    monkeypatch.setitem(search_modes.SEARCH_MODES, "bm25b", extra)
    assert Planner(keyword=None, dense=None).modes == ("bm25", "bm25b")
    rules = RequestRules(100, 50, 10, "bm25", ("bm25", "bm25b"), frozenset({"ef_search"}), 1000, 64, 8, 512, 256, 512)
    query = rules.search("json", 3, "bm25b", {"candidates": 5})
    assert (query.mode, query.params, query.dense) == ("bm25b", (("candidates", 5),), False)
    with pytest.raises(QueryError, match="does not apply to mode 'bm25b'"):
        rules.search("json", 3, "bm25b", {"ef_search": 5})
    with pytest.raises(QueryError, match="choose one of bm25, dense, hybrid, prefilter, auto, bm25b"):
        rules.search("json", 3, "semantic", {})


# --------------------------------------------------------------------------- BM25 variants


def test_config_reads_the_variant_registry(monkeypatch):
    with pytest.raises(ConfigError, match="bm25.variant must be one of " + ", ".join(bm25_variants.variant_names())):
        BM25Config(variant="bm25plus")
    extra = bm25_variants.BM25Variant("bm25plus", 2.0, "a variant added to the registry")
    monkeypatch.setitem(bm25_variants.BM25_VARIANTS, "bm25plus", extra)
    assert BM25Config(variant="bm25plus").variant == "bm25plus"


@pytest.mark.parametrize("variant", bm25_variants.variant_names())
def test_every_registered_variant_is_native_with_its_code_and_matches_the_reference(variant):
    docs = [[0, 1, 1, 2], [2, 3], [0, 3, 3, 3, 4], [1]]
    offsets = np.cumsum([0, *map(len, docs)]).astype(np.uint64)
    tokens = np.array([t for d in docs for t in d], dtype=np.uint32)
    index = BM25Index.build(offsets, tokens, 5, variant=variant)
    assert index.variant == variant
    assert float(index.arrays()["params"][0]) == bm25_variants.BM25_VARIANTS[variant].code
    query = np.array([0, 3], dtype=np.uint32)
    assert np.asarray(index.scores(query)).tolist() == bm25_scores_reference(docs, [0, 3], variant).tolist()


# --------------------------------------------------------------------------- the command line


def test_cli_choices_come_from_the_registries():
    """A kind and a mode added to the registries (before the command line is imported, as an
    edit of the registry would) appear in every ``--vector-index`` and ``--mode`` choice."""
    found = _python(
        """
        import argparse, json
        from retrieval.search import modes
        from retrieval.vector import registry
        registry.register_path("flat2", "retrieval.vector.flat:FlatIndex")
        modes.SEARCH_MODES["bm25b"] = modes.SearchMode("bm25b", False, frozenset(), "added")
        from retrieval.cli import build_parser

        def walk(parser, path):
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, sub in action.choices.items():
                        yield from walk(sub, path + [name])
                elif action.dest in ("vector_index", "mode", "default_mode"):
                    yield " ".join(path + [action.option_strings[0]]), list(action.choices or [])

        print(json.dumps(dict(walk(build_parser(), []))))
        """
    )
    kinds = [*registry.available_kinds(), "flat2"]
    modes = [*search_modes.mode_names(), "bm25b"]
    assert found["index --vector-index"] == kinds
    mode_options = {option: choices for option, choices in found.items() if "mode" in option}
    assert {"search --mode", "eval --mode", "ask --mode", "serve --default-mode"} <= set(mode_options)
    assert all(choices == modes for choices in mode_options.values()), mode_options
