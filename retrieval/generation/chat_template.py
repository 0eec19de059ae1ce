"""Rendering a ``ChatPrompt`` with the model's own chat template.

The template is the Jinja source in the GGUF metadata (``tokenizer.chat_template``), rendered the
way Hugging Face transformers and llama-cpp-python do (sandboxed, ``trim_blocks``,
``lstrip_blocks``, ``loopcontrols``, ``add_generation_prompt=True``); ChatML when the model has
none. jinja2 is a dependency of llama-cpp-python, imported when a template is built.

``fixed_prefix`` finds the part of a rendered prompt that does not depend on ``ChatPrompt.user``
(system message, start of the user turn, ``user_prefix``) by rendering with a placeholder user
text and cutting at it: whatever the template's markup, no per-template code is needed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Mapping

from .errors import PromptError
from .prompt import ChatPrompt

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_PLACEHOLDER = "\u2063retrieval-user-text-8d41\u2063"  # invisible separators: never in real text


class ChatTemplate:
    """A Jinja chat template, compiled once; ``render`` and ``fixed_prefix`` take a ``ChatPrompt``."""

    def __init__(self, source: str | None = None, bos_token: str = "", eos_token: str = "") -> None:
        try:
            import jinja2
            from jinja2.sandbox import ImmutableSandboxedEnvironment
        except ImportError:  # pragma: no cover - llama-cpp-python depends on jinja2
            from ..errors import ConfigError

            raise ConfigError("chat templates need jinja2: pip install jinja2") from None
        self.source = source or CHATML_TEMPLATE
        self.is_fallback = not source
        self.bos_token = bos_token
        self.eos_token = eos_token
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self._template = env.from_string(self.source)
        except jinja2.TemplateError as exc:
            raise PromptError(f"the model's chat template does not compile: {exc}") from None
        self._prefix_cache: dict[tuple[str, str], str] = {}

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], bos_token: str = "", eos_token: str = "") -> ChatTemplate:
        """The template stored in GGUF metadata, or ChatML when there is none."""
        return cls(metadata.get("tokenizer.chat_template"), bos_token, eos_token)

    def render(self, prompt: ChatPrompt) -> str:
        """The prompt text the model reads, ending where the assistant's answer begins."""
        return self._render(prompt.messages())

    def fixed_prefix(self, prompt: ChatPrompt) -> str:
        """The start of ``render(prompt)`` that does not depend on ``prompt.user`` ("" if none)."""
        key = (prompt.system, prompt.user_prefix)
        prefix = self._prefix_cache.get(key)
        if prefix is None:
            probe = self._render(ChatPrompt(prompt.system, _PLACEHOLDER, prompt.user_prefix).messages())
            cut = probe.find(_PLACEHOLDER)
            prefix = probe[:cut] if cut >= 0 else ""  # a template that rewrites content: no prefix
            if len(self._prefix_cache) >= 64:
                self._prefix_cache.clear()
            self._prefix_cache[key] = prefix
        return prefix

    def _render(self, messages: list[dict[str, str]]) -> str:
        import jinja2

        try:
            return self._template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except (jinja2.TemplateError, ValueError) as exc:
            raise PromptError(f"the model's chat template cannot render this prompt: {exc}") from None


def _raise_exception(message: str) -> None:
    raise ValueError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
