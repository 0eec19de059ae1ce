"""Errors the service itself raises (the library's own are in ``retrieval.errors``).

Each names a situation a client must handle differently, so each maps to its own status code
(see ``status.py``): a full queue is RESOURCE_EXHAUSTED (back off and retry), an expired call is
DEADLINE_EXCEEDED, a draining or warming server is UNAVAILABLE (retry elsewhere), a missing
token is UNAUTHENTICATED, a server started without a generator is FAILED_PRECONDITION.
"""

from __future__ import annotations

from ..errors import RetrievalError


class ServiceError(RetrievalError):
    """Base class of the service's own refusals."""


class Overloaded(ServiceError):
    """The admission queue (or the answer stream limit) is full: the call is refused at once."""


class ResponseTooLarge(ServiceError):
    """The response would exceed the server's send limit (``--max-send-bytes``)."""


class RequestTooLarge(ServiceError):
    """The request exceeds the server's receive limit (``--max-receive-bytes``)."""


class DeadlineExpired(ServiceError):
    """The call's deadline passed before its work could run; the work was dropped."""


class NotServing(ServiceError):
    """The server is warming up or draining and takes no new calls."""


class Unauthenticated(ServiceError):
    """The call carries no bearer token, or one the server does not know."""


class NoGenerator(ServiceError):
    """Answer was called on a server started with ``--generator none``."""
