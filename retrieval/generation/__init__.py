"""Answer generators: a local GGUF model (llama-cpp-python) or an OpenAI-compatible endpoint.

    from retrieval.generation import ChatPrompt, make_generator

    generator = make_generator("llama-cpp")                  # or "openai", base_url=..., model=...
    prompt = ChatPrompt(system="Answer from the sources.", user_prefix="Sources:\\n",
                        user="[1] json\\nThe json module ...\\n\\nQuestion: how do I parse JSON?")

    stream = generator.stream(prompt, max_tokens=128)        # returns at once
    async with stream:                                       # closing stops generation
        async for piece in stream:                           # text pieces as they are decoded
            print(piece, end="", flush=True)
    stream.stats                                             # GenerationStats, set when it ended

    result = await generator.generate(prompt)                # the stream, collected
    result.text, result.stats.ttft_ms, result.stats.tokens_per_s, result.stats.prompt_tokens

The API:
- ``ChatPrompt(system, user, user_prefix="")``: the fixed parts (``system``, ``user_prefix``)
  come first and are cached by the local backend; ``user`` holds what changes (sources,
  question). A plain string is accepted as a user turn.
- ``Generator`` (protocol): ``stream(prompt, **limits) -> TokenStream``,
  ``async generate(prompt, **limits) -> GenerationResult``, ``count_prompt_tokens(prompt)``,
  ``context_window``, ``tokenizer`` (a ``GeneratorTokenizer``), ``limits``, ``describe()``,
  ``close()``. Per-call limits: ``max_tokens``, ``stop``, ``temperature`` (0 = greedy, the
  default), ``top_p``, ``seed``.
- ``TokenStream``: async iterator of ``str``; ``stats`` (``None`` until it ended), ``aclose()``,
  ``async with``, ``collect()``. Breaking out of ``async for``, cancelling the consuming task or
  ``aclose()`` stops generation (the local model within a token).
- ``GenerationStats``: ``ttft_ms``, ``tokens_per_s`` (decode rate after the first token),
  ``prompt_tokens``, ``completion_tokens``, ``cached_prompt_tokens``, ``queue_ms``,
  ``total_ms``, ``finish_reason`` ("stop", "length", "cancelled", "error").
- ``make_generator(name, **options)``: "llama-cpp" -> ``LlamaCppGenerator`` (``model_path``,
  ``n_ctx=2048``, ``threads`` = all cores, ``prefix_cache=True``, limits); "openai" ->
  ``OpenAIGenerator`` (``base_url``, ``model``, ``api_key``, ``connect_timeout``,
  ``read_timeout``, ``retries``, limits).
- ``GeneratorTokenizer(model_path=None)``: ``count``, ``count_many``, ``encode`` in the model's
  own tokens (vocabulary only, cached per file); ``default_model_path()`` finds SmolLM2.
- Errors: ``GenerationError`` and its subclasses (``errors.py``); bad options are ``ConfigError``.

Importing this package loads neither llama-cpp-python nor httpx: each loads when a generator
(or tokenizer) that needs it is built, with the install command in the error if it is missing.
"""

from __future__ import annotations

from ..lazy import lazy_getattr
from .base import Generator
from .errors import (
    ContextWindowError,
    GenerationError,
    GenerationHTTPError,
    GenerationTimeoutError,
    GeneratorUnavailableError,
    MalformedEventError,
    PromptError,
)
from .limits import GenerationLimits
from .models import MODEL_ID, default_model_path
from .prompt import ChatPrompt, as_prompt
from .registry import GENERATORS, make_generator
from .stats import GenerationResult, GenerationStats
from .stream import TokenStream
from .tokenizer import GeneratorTokenizer

_LAZY = {
    "LlamaCppGenerator": ".llama_cpp_generator",
    "OpenAIGenerator": ".openai_generator",
    "ChatTemplate": ".chat_template",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "GENERATORS",
    "MODEL_ID",
    "ChatPrompt",
    "ChatTemplate",
    "ContextWindowError",
    "GenerationError",
    "GenerationHTTPError",
    "GenerationLimits",
    "GenerationResult",
    "GenerationStats",
    "GenerationTimeoutError",
    "Generator",
    "GeneratorTokenizer",
    "GeneratorUnavailableError",
    "LlamaCppGenerator",
    "MalformedEventError",
    "OpenAIGenerator",
    "PromptError",
    "TokenStream",
    "as_prompt",
    "default_model_path",
    "make_generator",
]
