"""The random-weight sentence-transformers directories of ``tests.support_models``: complete,
loadable offline, the asked-for dimension, pooling, normalisation and prompts, and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support_models import make_st_model

PROMPTS = {"query": "Represent this query: ", "document": "passage: "}
TEXTS = ["hello world", "The quick brown fox jumps over the lazy dog.", "short",
         "Proteins fold into shapes that decide what they do; misfolded ones aggregate. " * 3]
CASES = {
    "bert-cls-prompts": dict(arch="bert", pooling="cls", prompts=PROMPTS),
    "roberta-mean": dict(arch="roberta", pooling="mean"),
    "xlmr-mean-48d": dict(arch="xlm-roberta", pooling="mean", hidden=48),
    "bert-lasttoken-unnormalized": dict(arch="bert", pooling="lasttoken", normalize=False),
}
FILES = {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "1_Pooling/config.json",
         "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
POOLING_FLAGS = {"cls": "pooling_mode_cls_token", "mean": "pooling_mode_mean_tokens", "lasttoken": "pooling_mode_lasttoken"}
SPECIALS = {  # arch: (pad, first token, last token)
    "bert": ("[PAD]", "[CLS]", "[SEP]"),
    "roberta": ("<pad>", "<s>", "</s>"),
    "xlm-roberta": ("<pad>", "<s>", "</s>"),
}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("support-models")
    return {name: make_st_model(root / name, **options) for name, options in CASES.items()}


def _load(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(CASES))
def test_directory_has_the_sentence_transformers_files(models: dict[str, Path], name: str) -> None:
    root, case = models[name], CASES[name]
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert FILES <= present, FILES - present
    kinds = [m["type"].rsplit(".", 1)[-1] for m in _json(root / "modules.json")]
    assert kinds == ["Transformer", "Pooling"] + (["Normalize"] if case.get("normalize", True) else [])
    assert _json(root / "sentence_bert_config.json")["max_seq_length"] == 64
    assert _json(root / "sentence_bert_config.json")["do_lower_case"] is False
    assert _json(root / "config_sentence_transformers.json")["prompts"].get("query", "") == case.get("prompts", {}).get("query", "")
    pooling = _json(root / "1_Pooling" / "config.json")
    assert pooling["word_embedding_dimension"] == case.get("hidden", 32)
    assert [flag for flag, on in pooling.items() if flag.startswith("pooling_mode") and on] == [POOLING_FLAGS[case["pooling"]]]
    config = _json(root / "config.json")
    assert (config["model_type"], config["hidden_size"], config["num_hidden_layers"]) == (case["arch"], case.get("hidden", 32), 2)
    tokenizer = _json(root / "tokenizer.json")
    assert tokenizer["padding"] is None and tokenizer["truncation"] is None
    from tokenizers import Tokenizer

    assert config["vocab_size"] == Tokenizer.from_file(str(root / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    if case["arch"] != "bert":  # RoBERTa's positions start after the padding id
        assert (config["max_position_embeddings"], config["pad_token_id"], config["type_vocab_size"]) == (66, 1, 1)


@pytest.mark.parametrize("arch", list(SPECIALS))
def test_tokenizer_loads_with_its_special_tokens(tmp_path: Path, arch: str) -> None:
    from transformers import AutoTokenizer

    root = make_st_model(tmp_path / arch, arch=arch)
    tokenizer = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
    pad, first, last = SPECIALS[arch]
    config = _json(root / "config.json")
    assert tokenizer.pad_token == pad and tokenizer.pad_token_id == config["pad_token_id"]
    assert len(tokenizer) == config["vocab_size"]
    if arch == "bert":
        assert (tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id) == (0, 101, 102)
    else:
        ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
        assert ids == [0, 1, 2, 3, 4]
    encoded = tokenizer("The quick brown fox jumps.", return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == first and tokens[-1] == last and len(tokens) > 4
    assert tokenizer.unk_token_id not in encoded["input_ids"]
    batch = tokenizer(["a", "a much longer text than the first"], padding=True)
    assert batch["input_ids"][0][-1] == tokenizer.pad_token_id and batch["attention_mask"][0][-1] == 0


@pytest.mark.parametrize("name", list(CASES))
def test_loads_offline_and_encodes_as_configured(models: dict[str, Path], name: str) -> None:
    case = CASES[name]
    model = _load(models[name])
    dim = case.get("hidden", 32)
    prompts = model.prompts or {}
    docs = model.encode(TEXTS, prompt_name="document" if "document" in prompts else None, convert_to_numpy=True)
    queries = model.encode(TEXTS, prompt_name="query" if "query" in prompts else None, convert_to_numpy=True)
    assert docs.shape == queries.shape == (len(TEXTS), dim)
    assert model.max_seq_length == 64
    assert np.isfinite(docs).all()
    norms = np.linalg.norm(docs, axis=1)
    if case.get("normalize", True):
        np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    else:
        assert not np.allclose(norms, 1.0, atol=1e-3)
        assert norms.max() - norms.min() > 1e-3  # the length depends on the input
    tokens = model.encode(TEXTS[1], output_value="token_embeddings", convert_to_numpy=False).numpy()
    pooled = {"cls": tokens[0], "mean": tokens.mean(axis=0), "lasttoken": tokens[-1]}[case["pooling"]]
    plain = model.encode(TEXTS[1])
    np.testing.assert_allclose(plain / np.linalg.norm(plain), pooled / np.linalg.norm(pooled), atol=1e-5)
    cosines = docs @ docs.T / np.outer(norms, norms)
    assert cosines[np.triu_indices(len(TEXTS), 1)].max() < 0.999  # different texts, different vectors
    if case.get("prompts"):
        assert {k: prompts[k] for k in PROMPTS} == PROMPTS
        pair = np.sum(docs * queries, axis=1) / (norms * np.linalg.norm(queries, axis=1))
        assert pair.max() < 0.9999  # a query is not embedded as a document
        np.testing.assert_allclose(model.encode(["hello world"], prompt_name="query")[0], queries[0], atol=1e-6)
    else:
        np.testing.assert_array_equal(docs, queries)


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path) -> None:
    first = make_st_model(tmp_path / "a", arch="xlm-roberta", seed=3)
    again = make_st_model(tmp_path / "b", arch="xlm-roberta", seed=3)
    other = make_st_model(tmp_path / "c", arch="xlm-roberta", seed=4)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert (first / "model.safetensors").read_bytes() != (other / "model.safetensors").read_bytes()
    assert (first / "tokenizer.json").read_bytes() == (other / "tokenizer.json").read_bytes()


def test_lowercase_flag_is_applied_by_the_loader(tmp_path: Path) -> None:
    cased = _load(make_st_model(tmp_path / "cased", arch="roberta"))
    lower_dir = make_st_model(tmp_path / "lower", arch="roberta", lowercase=True)
    lower = _load(lower_dir)
    assert _json(lower_dir / "sentence_bert_config.json")["do_lower_case"] is True
    assert (lower_dir / "tokenizer.json").read_bytes() == (tmp_path / "cased" / "tokenizer.json").read_bytes()
    a, b = lower.encode(["HELLO World", "hello world"]), cased.encode(["HELLO World", "hello world"])
    np.testing.assert_allclose(a[0], a[1], atol=1e-6)
    assert not np.allclose(b[0], b[1], atol=1e-3)


def test_native_configs_still_load(tmp_path: Path) -> None:
    root = make_st_model(tmp_path / "native", arch="roberta", pooling="cls", hidden=16, heads=2, legacy_configs=False)
    model = _load(root)
    assert model.encode(["hello world"]).shape == (1, 16)
    assert model.max_seq_length == 64


@pytest.mark.parametrize("options, message", [
    (dict(arch="gpt2"), "arch must be one of"),
    (dict(pooling="max"), "pooling must be one of"),
    (dict(hidden=30, heads=4), "multiple of heads"),
])
def test_bad_arguments_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_st_model(tmp_path / "bad", **options)
    assert not (tmp_path / "bad").exists()
