from pathlib import Path

import pytest

from retrieval.config import BM25Config, ChunkerConfig, IndexConfig
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
