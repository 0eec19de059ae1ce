"""Errors of the answer generators.

All are ``RetrievalError``s, so the CLI prints them on one line. The subclasses say what kind of
failure it was, which is what the service needs to pick a status: an unreachable endpoint is
UNAVAILABLE, a read timeout DEADLINE_EXCEEDED, a prompt too long INVALID_ARGUMENT.
"""

from __future__ import annotations

from ..errors import RetrievalError


class GenerationError(RetrievalError):
    """Generating an answer failed: the model or the endpoint could not produce it."""


class PromptError(GenerationError, ValueError):
    """A prompt is not usable (a field is not a string, the template cannot render it)."""


class ContextWindowError(PromptError):
    """The prompt leaves no room for an answer in the model's context window."""


class GeneratorUnavailableError(GenerationError):
    """The endpoint could not be reached (connection refused, DNS, dropped), retries included."""


class GenerationTimeoutError(GenerationError, TimeoutError):
    """The endpoint accepted the request but sent nothing for longer than the read timeout."""


class GenerationHTTPError(GenerationError):
    """The endpoint answered with an HTTP error status (after the retries, for 5xx and 429).

    ``status`` is the HTTP status, ``body`` the first few hundred characters of the response.
    """

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class MalformedEventError(GenerationError):
    """A streamed event breaks the OpenAI streaming format (data not JSON, no ``choices``)."""
