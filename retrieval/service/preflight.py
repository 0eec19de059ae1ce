"""Checks made before the server binds, so that a bad start-up says what is wrong in one line.

gRPC reports a port in use and a broken certificate alike, as "Failed to bind", after several
lines of its own log on stderr. These checks find the cause first and raise ``ConfigError``:

    port 127.0.0.1:50051 is already in use (stop what listens there, or pick another --port)
    TLS certificate cert.pem is not a valid PEM certificate
    TLS key key.pem does not belong to the certificate cert.pem
"""

from __future__ import annotations

import errno
import socket
import ssl
from pathlib import Path

from ..errors import ConfigError


def check_port_free(host: str, port: int) -> None:
    """``ConfigError`` when ``host:port`` cannot be listened on (in use, or not this machine's).

    The probe binds the way gRPC does (SO_REUSEADDR, so a closed connection lingering in
    TIME_WAIT is no conflict) and releases the port at once. Port 0 (any free one) always works.
    """
    if port == 0:
        return
    name = host.strip("[]")
    shown = f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
    try:
        addresses = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {shown}: the host {name!r} does not resolve ({exc.strerror})") from None
    failures: list[OSError] = []
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"port {shown} is already in use (stop what listens there, or pick another --port)"
                    ) from None
                failures.append(exc)
    if failures and len(failures) == len(addresses):  # gRPC needs one address that binds
        reason = failures[0].strerror or str(failures[0])
        raise ConfigError(f"cannot listen on {shown}: {reason} (is {name} an address of this machine?)")


def check_tls_files(cert: Path, key: Path) -> None:
    """``ConfigError`` naming the file at fault when ``cert`` is no PEM certificate, ``key`` is
    no PEM private key gRPC can use (not encrypted), or the two do not belong together."""
    try:
        cert_text = Path(cert).read_text(encoding="ascii")
    except OSError as exc:
        raise ConfigError(f"cannot read the TLS certificate {cert}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"TLS certificate {cert} is not a valid PEM certificate (it is not text)") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cadata=cert_text)
    except (ssl.SSLError, ValueError):
        raise ConfigError(f"TLS certificate {cert} is not a valid PEM certificate") from None
    try:
        key_text = Path(key).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the TLS key {key}: {exc.strerror or exc}") from None
    if b"ENCRYPTED" in key_text:
        raise ConfigError(f"TLS key {key} is encrypted: gRPC needs it unencrypted (e.g. openssl pkey -in KEY -out PLAIN)")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=_no_password)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ConfigError(f"TLS key {key} does not belong to the certificate {cert}") from None
        raise ConfigError(f"TLS key {key} is not a valid PEM private key") from None


def _no_password() -> bytes:
    # Called only for an encrypted key that the text check above missed: refuse it, never prompt.
    raise ssl.SSLError("encrypted key")
