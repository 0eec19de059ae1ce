"""The interface every answer generator follows."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .limits import GenerationLimits
from .prompt import PromptLike
from .stats import GenerationResult
from .stream import TokenStream
from .tokenizer import GeneratorTokenizer


@runtime_checkable
class Generator(Protocol):
    """Streams an answer to a ``ChatPrompt`` (or a plain user string).

    ``stream(prompt, **overrides)`` returns at once; generation starts when the stream is first
    iterated. ``overrides`` are ``GenerationLimits`` fields for this call only (``max_tokens``,
    ``stop``, ``temperature``, ``top_p``, ``seed``): nothing shared is mutated, so concurrent
    calls with different limits do not interfere.
    """

    name: str
    limits: GenerationLimits

    @property
    def context_window(self) -> int:
        """Tokens the model attends to: prompt and answer together must fit."""
        ...

    @property
    def tokenizer(self) -> GeneratorTokenizer: ...

    def count_prompt_tokens(self, prompt: PromptLike) -> int:
        """Tokens of the rendered prompt (exact for the local model)."""
        ...

    def stream(self, prompt: PromptLike, **overrides: Any) -> TokenStream: ...

    async def generate(self, prompt: PromptLike, **overrides: Any) -> GenerationResult:
        """The whole answer: ``stream`` collected."""
        ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None:
        """Free the model or connections; the generator is unusable afterwards."""
        ...
