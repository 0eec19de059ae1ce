import dataclasses
import math
import re
from pathlib import Path

import pytest

from retrieval import config as config_module
from retrieval.config import AnalyzerConfig, BM25Config, ChunkerConfig, ContextConfig, FusionConfig, IndexConfig, LimiterConfig
from retrieval.errors import ConfigError


def test_defaults_round_trip_through_dict():
    config = IndexConfig()
    assert IndexConfig.from_dict(config.to_dict()) == config


def test_unknown_key_is_rejected_with_the_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) bm25\.k2.*valid keys: bm25\.variant"):
        IndexConfig.from_dict({"bm25": {"k2": 1.0}})
    with pytest.raises(ConfigError, match="unknown config key"):
        IndexConfig.from_dict({"analyser": {}})


def test_dotted_overrides_apply_on_top_of_the_file(tmp_path: Path):
    toml = tmp_path / "c.toml"
    toml.write_text('[bm25]\nvariant = "okapi"\nk1 = 1.2\n[chunker]\nmax_tokens = 128\n')
    config = IndexConfig.from_toml(toml, {"bm25.k1": 0.9, "analyzer.stemmer": None})
    assert config.bm25 == BM25Config(variant="okapi", k1=0.9)
    assert config.chunker == ChunkerConfig(max_tokens=128)
    assert config.analyzer.stemmer is None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"bm25": {"variant": "bm42"}}, "bm25.variant must be one of"),
        ({"bm25": {"b": 1.5}}, r"bm25.b must be in \[0, 1\]"),
        ({"chunker": {"max_tokens": 2}}, "chunker.max_tokens must be >= 8"),
        ({"bm25": 3}, "bm25 must be a table"),
    ],
)
def test_invalid_values_say_what_is_wrong(data, message):
    with pytest.raises(ConfigError, match=message):
        IndexConfig.from_dict(data)


def test_bad_toml_and_missing_file(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[bm25\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        IndexConfig.from_toml(bad)
    with pytest.raises(ConfigError, match="config file not found"):
        IndexConfig.from_toml(tmp_path / "nope.toml")


# -- field types, from the annotations ---------------------------------------------------------

CONFIG_CLASSES = [
    cls for cls in vars(config_module).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == config_module.__name__
]


def test_every_config_class_is_type_checked():
    assert len(CONFIG_CLASSES) >= 12
    for cls in CONFIG_CLASSES:
        cls()  # every annotation has a rule (an unknown one raises NotImplementedError)


@pytest.mark.parametrize(
    "cls, name",
    [(cls, f.name) for cls in CONFIG_CLASSES for f in dataclasses.fields(cls)],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
def test_every_field_refuses_a_value_of_the_wrong_type(cls, name):
    section = cls._name
    key = f"{section}.{name}" if section else name
    with pytest.raises(ConfigError, match=rf"^config {key}: expected .*, got <object object"):
        cls(**{name: object()})


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"bm25.k1": "abc"}, "config bm25.k1: expected a number, got 'abc'"),
        ({"bm25.b": "nan"}, "config bm25.b: expected a number, got 'nan'"),
        ({"bm25.b": math.nan}, "config bm25.b: expected a finite number, got nan"),
        ({"bm25.k1": math.inf}, "config bm25.k1: expected a finite number, got inf"),
        ({"bm25.k1": True}, "config bm25.k1: expected a number, got True"),
        ({"chunker.max_tokens": 256.0}, "config chunker.max_tokens: expected an integer, got 256.0"),
        ({"chunker.max_tokens": "256"}, "config chunker.max_tokens: expected an integer, got '256'"),
        ({"dense": 1}, "config dense: expected true or false, got 1"),
        ({"analyzer.stopwords": ["a", 1]}, "config analyzer.stopwords: expected a string or a list of strings or none"),
        ({"analyzer.stemmer": 3}, "config analyzer.stemmer: expected a string or none, got 3"),
        ({"vector.params": [1]}, "config vector.params: expected a table, got [1]"),
        ({"search.fusion.dense_weight": "x"}, "config search.fusion.dense_weight: expected a number, got 'x'"),
        ({"search.prefilter.candidates": None}, "config search.prefilter.candidates: expected an integer, got None"),
        ({"bm25.epsilon": -0.1}, "bm25.epsilon must be >= 0"),
        ({"vector.auto_flat_max": -1}, "vector.auto_flat_max must be >= 0"),
    ],
)
def test_wrong_values_name_the_key_the_value_and_what_was_expected(overrides, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        IndexConfig.from_dict({}, overrides)


def test_wrong_values_in_a_toml_file(tmp_path: Path):
    toml = tmp_path / "c.toml"
    toml.write_text("[bm25]\nk1 = nan\n")
    with pytest.raises(ConfigError, match="config bm25.k1: expected a finite number, got nan"):
        IndexConfig.from_toml(toml)
    toml.write_bytes(b"[bm25]\nvariant = '\xff'\n")
    with pytest.raises(ConfigError, match="cannot read config file"):
        IndexConfig.from_toml(toml)
    with pytest.raises(ConfigError, match="cannot read config file"):
        IndexConfig.from_toml(tmp_path)


def test_values_of_the_right_type_are_kept():
    config = IndexConfig.from_dict({"bm25": {"k1": 1}, "analyzer": {"stopwords": ["x", "y"], "stemmer": None}})
    assert config.bm25.k1 == 1 and config.analyzer.stopwords == ("x", "y") and config.analyzer.stemmer is None
    assert AnalyzerConfig(stopwords=("a",)).stopwords == ("a",)
    assert FusionConfig(dense_weight=1).dense_weight == 1
    assert LimiterConfig(budget_tokens=None).budget_tokens is None


def test_context_config_keys_are_named_too():
    with pytest.raises(ConfigError, match="^config limiter.mmr_lambda: expected a number, got 'high'"):
        ContextConfig.from_dict({"limiter": {"mmr_lambda": "high"}})
    with pytest.raises(ConfigError, match="^config compressor.cache_size: expected an integer, got 1.5"):
        ContextConfig.from_dict({}, {"compressor.cache_size": 1.5})
