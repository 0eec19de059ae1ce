"""Importing an adapter without its framework says which extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

ADAPTERS = [
    ("retrieval.integrations.langchain", "langchain_core", "langchain"),
    ("retrieval.integrations.llama_index", "llama_index", "llama-index"),
    ("retrieval.integrations.haystack", "haystack", "haystack"),
]


@pytest.mark.parametrize(("adapter", "framework", "extra"), ADAPTERS)
def test_import_without_the_framework_names_the_extra(monkeypatch, adapter, framework, extra) -> None:
    # A None entry makes `import` fail as if the package were not installed (its loaded
    # submodules too, else importing one would find it cached); monkeypatch puts all back.
    for name in [n for n in sys.modules if n == framework or n.startswith(framework + ".")] or [framework]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, adapter, raising=False)
    with pytest.raises(ImportError, match=rf"pip install 'retrieval\[{extra}\]'") as raised:
        importlib.import_module(adapter)
    assert "\n" not in str(raised.value)
