"""Errors raised by the library.

Every error a user can cause is a ``RetrievalError``; the CLI prints its message on one line and
the service maps each subclass to a status code.
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigError(RetrievalError, ValueError):
    """A configuration key or value is invalid (unknown key, out-of-range value)."""


class CorpusError(RetrievalError, ValueError):
    """A corpus file is missing, unreadable or malformed; the message names file and line."""


class BundleError(RetrievalError):
    """An index bundle is missing, corrupt, foreign or of an unsupported version."""


class QueryError(RetrievalError, ValueError):
    """A search request is invalid (bad k, unknown mode, mode not available in this bundle)."""


class NotFoundError(RetrievalError, LookupError):
    """A requested chunk or document id does not exist."""


class StoreUnavailableError(RetrievalError):
    """A chunk store or corpus database cannot be reached (server down, connection lost after
    retries, timed out); the message starts with ``UNAVAILABLE:`` and says what happened."""


class UpdateConflictError(RetrievalError):
    """Another process is updating the same index bundle right now; retry when it is done."""


class ShardUnavailableError(RetrievalError):
    """A shard of a collection served on Ray Serve has no live replica (Serve is restoring it):
    the call is refused, never answered from the other shards alone; retry later."""
