"""PostgreSQL plumbing shared by the chunk store and the corpus reader: the lazy asyncpg import,
DSN redaction, mapping connection failures to our errors, and retrying idempotent reads."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, TypeVar

from ..errors import ConfigError, StoreUnavailableError

T = TypeVar("T")
log = logging.getLogger("retrieval.stores.postgres")

INSTALL_HINT = "PostgreSQL support needs asyncpg: pip install 'retrieval[postgres]'"
DSN_PREFIXES = ("postgresql://", "postgres://")


def is_dsn(text: object) -> bool:
    return isinstance(text, str) and text.startswith(DSN_PREFIXES)


def asyncpg_module() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return asyncpg


# Query parameters of a DSN that carry a secret (asyncpg and libpq read both).
_SECRET_PARAMS = frozenset({"password", "sslpassword"})


def redact(dsn: str) -> str:
    """The DSN with its password shown as ``***``, for messages (``postgresql://me:***@host/db``)."""
    return _drop_password(dsn, "***")


def strip_password(dsn: str) -> str:
    """The DSN with no password at all, for what is written down (a bundle's manifest):
    ``postgresql://me:pw@host:5432/db?password=pw&sslmode=require`` ->
    ``postgresql://me@host:5432/db?sslmode=require``. User, hosts, ports, database and the
    other parameters stay. Reopening it takes the password from libpq's ``PGPASSWORD`` or
    ``~/.pgpass`` (asyncpg reads both), which a ``:***`` placeholder would have overridden."""
    return _drop_password(dsn, None)


def _drop_password(dsn: str, placeholder: str | None) -> str:
    """Replace (``placeholder``) or remove (None) every password in ``dsn``: the one in the
    user info and ``password=``/``sslpassword=`` query parameters."""
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return dsn
    rest, hash_, fragment = rest.partition("#")
    rest, qmark, query = rest.partition("?")
    # The authority ends at the first "/" (as urllib, and so asyncpg, split it); asyncpg takes
    # the user info up to its first "@", we up to its last: an unescaped "@" in a password
    # never leaves part of the password behind.
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        userinfo, _, hosts = authority.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if colon:
            userinfo = user if placeholder is None else f"{user}:{placeholder}"
        authority = f"{userinfo}@{hosts}" if userinfo else hosts
    if query:
        params = []
        for param in query.split("&"):
            key = param.partition("=")[0]
            if key.lower() in _SECRET_PARAMS:
                if placeholder is None:
                    continue
                param = f"{key}={placeholder}"
            params.append(param)
        query = "&".join(params)
        qmark = "?" if query else ""
    return f"{scheme}{sep}{authority}{slash}{path}{qmark}{query}{hash_}{fragment}"


@dataclass(frozen=True)
class Timeouts:
    """Seconds: establishing a connection, one statement, waiting for a pooled connection."""

    connect: float = 5.0
    command: float = 30.0
    acquire: float = 10.0


def connection_lost(exc: BaseException) -> bool:
    """True for failures where the server or the link went away (retrying may succeed)."""
    asyncpg = asyncpg_module()
    lost = (
        asyncpg.ConnectionDoesNotExistError,  # the socket closed under a query
        asyncpg.exceptions.AdminShutdownError,  # pg_terminate_backend, server shut down
        asyncpg.exceptions.CrashShutdownError,
        asyncpg.exceptions.CannotConnectNowError,  # server starting up or shutting down
        asyncpg.exceptions.ConnectionFailureError,
        asyncpg.exceptions.TooManyConnectionsError,
        # The connection's protocol state broke, e.g. a query sent on a connection whose backend
        # was just terminated (asyncpg reports "another operation is in progress"): unusable.
        asyncpg.InternalClientError,
        ConnectionError,
        OSError,  # refused, reset, unreachable
    )
    if isinstance(exc, asyncpg.InterfaceError) and "connection" in str(exc).lower() and "closed" in str(exc).lower():
        return True
    return isinstance(exc, lost)


def connect_failure(exc: BaseException, dsn: str, what: str) -> Exception:
    """Our error for a failure to connect to ``dsn`` (``what``: what we were doing)."""
    asyncpg = asyncpg_module()
    where = redact(dsn)
    if isinstance(exc, (asyncpg.exceptions.InvalidPasswordError, asyncpg.exceptions.InvalidAuthorizationSpecificationError,
                        asyncpg.exceptions.InvalidCatalogNameError, asyncpg.exceptions.ClientConfigurationError)):
        return ConfigError(f"{what}: PostgreSQL at {where} refused the connection: {exc}")
    if isinstance(exc, ValueError):  # asyncpg's DSN parser
        return ConfigError(f"{what}: invalid PostgreSQL DSN {where}: {exc}")
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return StoreUnavailableError(f"UNAVAILABLE: {what}: PostgreSQL at {where} did not answer in time")
    return StoreUnavailableError(f"UNAVAILABLE: {what}: cannot reach PostgreSQL at {where}: {_describe(exc)}")


async def retry_read(op: Callable[[], Awaitable[T]], *, dsn: str, what: str, retries: int, backoff_s: float = 0.05) -> T:
    """Run the idempotent read ``op``, running it again (after a short backoff) when the
    connection is lost, at most ``retries`` more times; then ``StoreUnavailableError``.

    Only for reads: a write whose connection dropped may or may not have been applied.
    """
    for attempt in range(retries + 1):
        try:
            return await op()
        except (asyncio.TimeoutError, TimeoutError):
            # A slow query would be slow again: report it rather than multiply the wait.
            raise StoreUnavailableError(f"UNAVAILABLE: {what}: PostgreSQL at {redact(dsn)} timed out") from None
        except Exception as exc:
            if not connection_lost(exc):
                raise
            if attempt == retries:
                raise StoreUnavailableError(
                    f"UNAVAILABLE: {what}: connection to PostgreSQL at {redact(dsn)} lost "
                    f"({_describe(exc)}); gave up after {retries} retries"
                ) from None
            log.warning("%s: connection lost (%s); retry %d of %d", what, _describe(exc), attempt + 1, retries)
            await asyncio.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
