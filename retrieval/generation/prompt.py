"""The prompt a generator takes: a system message and one user turn.

The user turn is ``user_prefix + user``. ``user_prefix`` is the fixed part that opens every
request the same way (instructions that come before the sources); ``user`` is what changes
(sources, question). The local backend keeps the model state for everything up to the end of
``user_prefix`` (system message included) and evaluates only the rest on each request, so put
everything fixed there and nothing that varies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .errors import PromptError


@dataclass(frozen=True)
class ChatPrompt:
    """A chat request: ``system`` message (``""``: none, the model's template decides) and user turn."""

    system: str
    user: str
    user_prefix: str = ""

    def __post_init__(self) -> None:
        for name in ("system", "user", "user_prefix"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise PromptError(f"ChatPrompt.{name} must be a string, got {type(value).__name__}")

    @property
    def user_content(self) -> str:
        """The user turn as the model reads it."""
        return self.user_prefix + self.user

    def messages(self) -> list[dict[str, str]]:
        """OpenAI-style messages: the system message (when there is one), then the user turn."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": self.user_content})
        return messages


PromptLike = Union[ChatPrompt, str]


def as_prompt(prompt: PromptLike) -> ChatPrompt:
    """``prompt`` as a ``ChatPrompt``; a plain string is a user turn with no system message."""
    if isinstance(prompt, ChatPrompt):
        return prompt
    if isinstance(prompt, str):
        return ChatPrompt(system="", user=prompt)
    raise PromptError(f"a prompt must be a ChatPrompt or a string, got {type(prompt).__name__}")
