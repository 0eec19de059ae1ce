"""Pick a generator implementation by name."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ConfigError
from .base import Generator


def _llama_cpp(**options: Any) -> Generator:
    from .llama_cpp_generator import LlamaCppGenerator

    return LlamaCppGenerator(**options)


def _openai(**options: Any) -> Generator:
    from .openai_generator import OpenAIGenerator

    return OpenAIGenerator(**options)


GENERATORS: dict[str, Callable[..., Generator]] = {
    "llama-cpp": _llama_cpp,  # local GGUF model in-process (default: SmolLM2-135M-Instruct)
    "openai": _openai,  # any OpenAI-compatible streaming chat completions endpoint
}


def make_generator(name: str = "llama-cpp", **options: Any) -> Generator:
    """A generator of kind ``name`` ("llama-cpp" or "openai") built with ``options``."""
    try:
        factory = GENERATORS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"generator must be one of {', '.join(GENERATORS)}, got {name!r}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(f"bad option for the {name} generator: {exc}") from None
