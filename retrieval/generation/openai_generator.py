"""The remote backend: any OpenAI-compatible ``/v1/chat/completions`` endpoint, streamed.

Works with the OpenAI API and with local servers that speak its protocol (llama.cpp's and
llama-cpp-python's servers, vLLM, Ollama's ``/v1``). httpx is imported when a generator is built.

Retries happen only before the first token, for failures where nothing was generated yet:
connection errors, HTTP 5xx and 429 (``Retry-After`` honoured up to 5 s), with exponential
backoff. A read timeout is never retried (it would multiply the wait), and nothing is retried
once text has streamed (the consumer has already shown it). Every failure is a
``GenerationError`` subclass naming the URL and what went wrong.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncGenerator, Mapping

from ..errors import ConfigError
from .chat_template import ChatTemplate
from .errors import (
    GenerationError,
    GenerationHTTPError,
    GenerationTimeoutError,
    GeneratorUnavailableError,
    MalformedEventError,
)
from .limits import GenerationLimits, StopLike
from .prompt import ChatPrompt, PromptLike, as_prompt
from .sse import DONE, iter_sse_data, parse_chunk, snippet
from .stats import GenerationResult, GenerationStats, StatsRecorder
from .stops import StopMatcher
from .stream import StreamState, TokenStream
from .tokenizer import GeneratorTokenizer

INSTALL_HINT = "pip install httpx==0.28.1"
_MAX_RETRY_AFTER_S = 5.0
_MAX_BACKOFF_S = 4.0


class OpenAIGenerator:
    """Streams answers from an OpenAI-compatible chat completions endpoint.

    ``base_url``: up to and including ``/v1`` (requests go to ``{base_url}/chat/completions``).
    ``model``: the model name sent with each request. ``api_key``: sent as a bearer token when
    given. ``connect_timeout`` / ``read_timeout``: seconds to connect, and at most between two
    received chunks (the first one included). ``retries``: extra attempts before the first token;
    ``backoff_s``: the first pause, doubled each time. ``context_window``: the served model's
    window, for budgets. ``tokenizer_model_path``: GGUF whose vocabulary and chat template count
    prompt tokens (default: SmolLM2-135M-Instruct; exact when that is the served model).
    ``include_usage``: ask for a final usage chunk (``stream_options``), so the stats carry the
    server's own token counts. ``extra_body``: more request fields (e.g. ``{"top_k": 40}``).
    ``client``: an ``httpx.AsyncClient`` to reuse connections (not closed here); by default each
    request opens its own. Generation limits as for every generator, overridable per call.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        *,
        model: str = "default",
        api_key: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        context_window: int = 2048,
        tokenizer_model_path: str | None = None,
        max_tokens: int = 256,
        stop: StopLike = None,
        temperature: float = 0.0,
        top_p: float = 0.95,
        seed: int | None = None,
        include_usage: bool = True,
        extra_body: Mapping[str, Any] | None = None,
        client: Any = None,
    ) -> None:
        try:
            import httpx
        except ImportError:
            raise ConfigError(f"the openai generator needs httpx: {INSTALL_HINT}") from None
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"generation.base_url must be an http:// or https:// URL, got {base_url!r}")
        for label, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"generation.{label} must be a positive number of seconds, got {value!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ConfigError(f"generation.retries must be an integer >= 0, got {retries!r}")
        if not isinstance(backoff_s, (int, float)) or isinstance(backoff_s, bool) or backoff_s < 0:
            raise ConfigError(f"generation.backoff_s must be a number >= 0, got {backoff_s!r}")
        if not isinstance(context_window, int) or isinstance(context_window, bool) or context_window < 1:
            raise ConfigError(f"generation.context_window must be a positive integer, got {context_window!r}")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"generation.model must be a non-empty string, got {model!r}")
        self.limits = GenerationLimits(max_tokens, stop, temperature, top_p, seed)  # type: ignore[arg-type]
        self._httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.retries = retries
        self.backoff_s = float(backoff_s)
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.include_usage = include_usage
        self.extra_body = dict(extra_body or {})
        self._context_window = context_window
        self._timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
        self._headers = {"Accept": "text/event-stream"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._client = client
        self._tokenizer_model_path = tokenizer_model_path
        self._tokenizer: GeneratorTokenizer | None = None
        self._template: ChatTemplate | None = None

    # -- budgets -------------------------------------------------------------------------------

    @property
    def context_window(self) -> int:
        return self._context_window

    @property
    def tokenizer(self) -> GeneratorTokenizer:
        """Loaded on first use (it needs llama-cpp-python and the GGUF file)."""
        if self._tokenizer is None:
            self._tokenizer = GeneratorTokenizer(self._tokenizer_model_path)
        return self._tokenizer

    def count_prompt_tokens(self, prompt: PromptLike) -> int:
        """Tokens of the prompt rendered with the tokenizer model's chat template: exact when the
        endpoint serves that model, an estimate otherwise."""
        if self._template is None:
            tok = self.tokenizer
            self._template = ChatTemplate.from_metadata(tok.metadata, tok.bos_token, tok.eos_token)
        return len(self.tokenizer.encode_rendered(self._template.render(as_prompt(prompt))))

    # -- generating ----------------------------------------------------------------------------

    def request_body(self, prompt: PromptLike, limits: GenerationLimits | None = None, *, stream: bool = True) -> dict[str, Any]:
        """The JSON body sent for ``prompt``."""
        limits = limits or self.limits
        body: dict[str, Any] = {
            "model": self.model,
            "messages": as_prompt(prompt).messages(),
            "stream": stream,
            "max_tokens": limits.max_tokens,
            "temperature": limits.temperature,
            "top_p": limits.top_p,
        }
        if limits.stop:
            body["stop"] = list(limits.stop)
        if limits.seed is not None:
            body["seed"] = limits.seed
        if stream and self.include_usage:
            body["stream_options"] = {"include_usage": True}
        body.update(self.extra_body)
        return body

    def stream(self, prompt: PromptLike, **overrides: Any) -> TokenStream:
        chat = as_prompt(prompt)
        limits = self.limits.with_overrides(**overrides)
        state = StreamState()
        return TokenStream(self._produce(chat, limits, state), state)

    async def generate(self, prompt: PromptLike, **overrides: Any) -> GenerationResult:
        return await self.stream(prompt, **overrides).collect()

    async def _produce(self, prompt: ChatPrompt, limits: GenerationLimits, state: StreamState) -> AsyncGenerator[str, None]:
        recorder = StatsRecorder()  # the clock starts when the stream is first iterated
        httpx = self._httpx
        body = self.request_body(prompt, limits)
        client = self._client if self._client is not None else httpx.AsyncClient(timeout=self._timeout)
        reason, usage, finish = "error", None, None
        try:
            response = await self._open(client, body)
            recorder.started()
            try:
                stops = StopMatcher(limits.stop)
                done = False
                async for data in iter_sse_data(response.aiter_lines()):
                    if data.strip() == DONE:
                        done = True
                        break
                    delta = parse_chunk(data)
                    usage = delta.usage or usage
                    finish = delta.finish_reason or finish
                    if delta.content:
                        recorder.token()
                        state.tokens_decoded += 1
                        piece = stops.push(delta.content)
                        if piece:
                            yield piece
                        if stops.hit:
                            finish, done = "stop", True
                            break
                tail = stops.flush()
                if tail:
                    yield tail
                if not done and finish is None:
                    raise GeneratorUnavailableError(f"{self.url} closed the stream before it finished (no [DONE], no finish_reason)")
                reason = finish or "stop"
            except httpx.ReadTimeout:
                raise GenerationTimeoutError(
                    f"{self.url} sent nothing for {self.read_timeout:g} s after {recorder.tokens} token(s) (read timeout)"
                ) from None
            except httpx.HTTPError as exc:
                raise GeneratorUnavailableError(f"the stream from {self.url} broke after {recorder.tokens} token(s): {_describe(exc)}") from None
            finally:
                await response.aclose()
        except (GeneratorExit, asyncio.CancelledError):
            reason = "cancelled"
            raise
        finally:
            if self._client is None:
                await client.aclose()
            state.stats = self._finish(prompt, recorder, reason, usage)

    async def _open(self, client: Any, body: dict[str, Any]) -> Any:
        """POST the request and return the streaming response once it is a success.

        Connection errors, 5xx and 429 are retried (before any token, by construction).
        """
        httpx = self._httpx
        attempt = 0
        while True:
            request = client.build_request("POST", self.url, json=body, headers=self._headers)
            try:
                response = await client.send(request, stream=True)
            except httpx.ReadTimeout:
                raise GenerationTimeoutError(f"{self.url} accepted the request but sent nothing for {self.read_timeout:g} s (read timeout)") from None
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if attempt < self.retries:
                    await asyncio.sleep(self._backoff(attempt, None))
                    attempt += 1
                    continue
                raise GeneratorUnavailableError(f"cannot reach {self.url} ({_describe(exc)}), {_attempts(attempt)}") from None
            except httpx.HTTPError as exc:
                raise GenerationError(f"request to {self.url} failed: {_describe(exc)}") from None
            if response.is_success:
                content_type = response.headers.get("content-type", "")
                if content_type.startswith("application/json"):
                    text = await _read_snippet(response)
                    await response.aclose()
                    raise MalformedEventError(f"{self.url} answered with JSON instead of an event stream: {text!r}")
                return response
            text = await _read_snippet(response)
            await response.aclose()
            status = response.status_code
            if (status >= 500 or status == 429) and attempt < self.retries:
                await asyncio.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                attempt += 1
                continue
            raise GenerationHTTPError(f"{self.url} answered HTTP {status} ({_attempts(attempt)}): {text!r}", status, text)

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        pause = min(self.backoff_s * 2.0**attempt, _MAX_BACKOFF_S)
        if retry_after:
            try:
                pause = max(pause, min(float(retry_after), _MAX_RETRY_AFTER_S))
            except ValueError:  # an HTTP date: keep the plain backoff
                pass
        return pause

    def _finish(self, prompt: ChatPrompt, recorder: StatsRecorder, reason: str, usage: Mapping[str, Any] | None) -> GenerationStats:
        completion_tokens = None
        if usage:
            recorder.prompt_tokens = _int(usage.get("prompt_tokens"), 0)
            completion_tokens = _int(usage.get("completion_tokens"), recorder.tokens)
            details = usage.get("prompt_tokens_details")
            if isinstance(details, dict):
                recorder.cached_prompt_tokens = _int(details.get("cached_tokens"), 0)
        elif reason != "error":  # a failed request skips the count (and the tokenizer load)
            try:
                recorder.prompt_tokens = self.count_prompt_tokens(prompt)
            except (ConfigError, GenerationError):  # no local tokenizer: the count stays unknown (0)
                recorder.prompt_tokens = 0
        return recorder.finish(reason, completion_tokens)

    def describe(self) -> dict[str, Any]:
        return {
            "generator": self.name,
            "url": self.url,
            "model": self.model,
            "context_window": self.context_window,
            "retries": self.retries,
            "timeouts_s": {"connect": self.connect_timeout, "read": self.read_timeout},
            "limits": {"max_tokens": self.limits.max_tokens, "stop": list(self.limits.stop), "temperature": self.limits.temperature},
        }

    def close(self) -> None:
        """Nothing to free: each request closes its own connection (a passed ``client`` is the caller's)."""

    def __repr__(self) -> str:
        return f"OpenAIGenerator({self.url!r}, model={self.model!r})"


async def _read_snippet(response: Any, limit: int = 500) -> str:
    """The start of an error response's body, decoded leniently."""
    data = b""
    try:
        async for part in response.aiter_bytes():
            data += part
            if len(data) >= limit:
                break
    except Exception:  # the body of an error is best effort
        pass
    return snippet(data.decode("utf-8", errors="replace"), 300)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _attempts(retried: int) -> str:
    return "1 attempt" if retried == 0 else f"{retried + 1} attempts"


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
