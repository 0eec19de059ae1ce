"""The generator registry, lazy imports with install hints, and the TTFT benchmark helpers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from retrieval.errors import ConfigError
from retrieval.generation import GENERATORS, ChatPrompt, OpenAIGenerator, make_generator
from retrieval.generation.ttft import SYSTEM_INSTRUCTION, USER_PREFIX, compare_prefix_cache, demo_prompts, measure_ttft


def test_unknown_generator_lists_the_known_ones() -> None:
    assert set(GENERATORS) == {"llama-cpp", "openai"}
    with pytest.raises(ConfigError, match="one of llama-cpp, openai, got 'gpt'"):
        make_generator("gpt")
    with pytest.raises(ConfigError, match="bad option for the openai generator"):
        make_generator("openai", base_urll="http://x")
    with pytest.raises(ConfigError, match="bad option for the llama-cpp generator"):
        make_generator("llama-cpp", contxt=5)
    assert isinstance(make_generator("openai", base_url="http://127.0.0.1:1/v1"), OpenAIGenerator)


def test_missing_backends_fail_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # import httpx -> ImportError
    with pytest.raises(ConfigError, match=r"pip install httpx"):
        make_generator("openai")
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(ConfigError, match=r'pip install "llama-cpp-python\[server\]'):
        make_generator("llama-cpp")


def test_importing_the_package_loads_no_backend() -> None:
    import subprocess

    code = "import sys, retrieval.generation; print(sorted(m for m in ('llama_cpp', 'httpx', 'jinja2') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_demo_prompts_are_realistic_rag_prompts(llama_gen) -> None:
    tokenizer = llama_gen.tokenizer
    prompts = demo_prompts(5, tokenizer=tokenizer)
    assert prompts == demo_prompts(5, tokenizer=tokenizer)  # seeded
    assert 55 <= tokenizer.count(SYSTEM_INSTRUCTION) <= 70  # measured 64
    for prompt in prompts:
        assert prompt.system == SYSTEM_INSTRUCTION and prompt.user_prefix == USER_PREFIX
        assert prompt.user.startswith("[1] ") and "\n\nQuestion: " in prompt.user
        assert 280 <= tokenizer.count(prompt.user) <= 640  # 300-600 tokens of sources + the question


@pytest.mark.slow  # ~6 s: two model loads and eight timed requests
def test_ttft_with_and_without_prefix_cache(model_path: Path, llama_gen) -> None:
    prompts = demo_prompts(3, min_tokens=40, max_tokens=60, tokenizer=llama_gen.tokenizer)
    result = compare_prefix_cache(prompts, model_path=model_path, threads=1)
    assert len(result.samples_with_ms) == len(result.samples_without_ms) == 3
    assert result.with_prefix_cache_ms > 0 and result.without_prefix_cache_ms > 0
    prefix = len(llama_gen.tokenizer.encode_rendered(llama_gen.template.fixed_prefix(prompts[0])))
    assert result.cached_tokens_median >= prefix - 1  # every timed request reused the prefix
    assert result.as_dict()["prompts"] == 3
    samples = measure_ttft(llama_gen, [ChatPrompt("Be brief.", "Hi"), ChatPrompt("Be brief.", "Hello")], warmup=0)
    assert len(samples) == 2 and all(ms > 0 for ms in samples)
