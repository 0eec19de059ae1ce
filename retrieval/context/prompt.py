"""Prompt assembly: instructions, numbered sources, the question — within the context window.

The prompt is a ``ChatPrompt``: the system message holds the instructions and the user turn
opens with a fixed ``Sources:`` line, so everything before the sources is the same on every
request (the local generator keeps its model state and evaluates only the rest). Then come the
sources as the context stage rendered them (``[1] Title`` blocks), and the question last.

``context_room`` says how many tokens the sources may take: the window, less the tokens kept
free for the answer, less the prompt with no sources at all. When even that empty prompt does
not fit, the question alone is too long and ``ContextWindowError`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..generation import ChatPrompt, ContextWindowError

DEFAULT_INSTRUCTIONS = (
    "You are a careful assistant. Answer the question using only the numbered sources. "
    "Cite the sources you use by their number in brackets, like [1]. "
    "If the sources do not contain the answer, say that you do not know."
)
SOURCES_PREFIX = "Sources:\n\n"
NO_SOURCES = "(no sources found)"


@dataclass(frozen=True)
class PromptConfig:
    """``instructions``: the system message. ``answer_tokens``: room kept free for the answer
    (None: the generator's own ``max_tokens``)."""

    instructions: str = DEFAULT_INSTRUCTIONS
    answer_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.instructions, str):
            raise ConfigError(f"prompt.instructions must be a string, got {type(self.instructions).__name__}")
        if self.answer_tokens is not None and (
            isinstance(self.answer_tokens, bool) or not isinstance(self.answer_tokens, int) or self.answer_tokens < 1
        ):
            raise ConfigError(f"prompt.answer_tokens must be a positive integer or none, got {self.answer_tokens!r}")


def build_prompt(question: str, context: str, config: PromptConfig | None = None) -> ChatPrompt:
    """The chat prompt for ``question`` over an already rendered ``context`` ("" = no sources)."""
    config = config or PromptConfig()
    return ChatPrompt(
        system=config.instructions,
        user_prefix=SOURCES_PREFIX,
        user=f"{context or NO_SOURCES}\n\nQuestion: {question}",
    )


def answer_tokens(generator: Any, config: PromptConfig | None = None) -> int:
    """Tokens kept free for the answer: the configured room, else the generator's max_tokens."""
    config = config or PromptConfig()
    return config.answer_tokens if config.answer_tokens is not None else int(generator.limits.max_tokens)


def context_room(generator: Any, question: str, config: PromptConfig | None = None) -> int:
    """Tokens the rendered sources may take so that prompt + answer fit the context window.

    Raises ``ContextWindowError`` when the prompt without any sources already leaves no room.
    """
    reserve = answer_tokens(generator, config)
    bare = generator.count_prompt_tokens(build_prompt(question, "", config))
    room = generator.context_window - reserve - bare
    if room < 0:
        raise ContextWindowError(
            f"the question alone needs {bare} prompt tokens; with {reserve} kept for the answer that is over "
            f"the model's {generator.context_window}-token context window: shorten the question"
        )
    return room


def check_fits(generator: Any, prompt: ChatPrompt, config: PromptConfig | None = None) -> int:
    """Prompt tokens of ``prompt``; ``ContextWindowError`` if it and the answer overflow the window."""
    tokens = generator.count_prompt_tokens(prompt)
    reserve = answer_tokens(generator, config)
    if tokens + reserve > generator.context_window:
        raise ContextWindowError(
            f"the prompt has {tokens} tokens and {reserve} are kept for the answer: over the model's "
            f"{generator.context_window}-token context window"
        )
    return tokens
