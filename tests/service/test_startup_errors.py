"""`retrieval serve` that cannot start says why in one line: a port in use, a bad TLS file."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from retrieval.errors import ConfigError
from retrieval.service.preflight import check_port_free, check_tls_files

SERVE_TIMEOUT_S = 120


def _serve(bundle: Path, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "retrieval.cli", "serve", str(bundle), "--generator", "none",
               "--metrics-port", "0", *options]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=SERVE_TIMEOUT_S)


def _one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture()
def listening() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need the openssl command (apt-get install openssl)")
    subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)


def _certificate(root: Path, name: str) -> tuple[Path, Path]:
    cert, key = root / f"{name}.pem", root / f"{name}.key"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost")  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tls-errors")
    cert, key = _certificate(root, "a")
    _, other_key = _certificate(root, "b")
    garbage = root / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    encrypted = root / "encrypted.key"
    _openssl("pkey", "-in", str(key), "-out", str(encrypted), "-aes256", "-passout", "pass:secret")
    return {"cert": cert, "key": key, "other_key": other_key, "garbage": garbage, "encrypted": encrypted}


def test_a_port_in_use_is_one_line_naming_it(bundle, listening) -> None:
    line = _one_line(_serve(bundle, "--port", str(listening)))
    assert line.startswith(f"retrieval: error: port 127.0.0.1:{listening} is already in use"), line


def test_a_metrics_port_in_use_is_one_line_naming_it(bundle, listening, free_port_factory) -> None:
    line = _one_line(_serve(bundle, "--port", str(free_port_factory()), "--metrics-port", str(listening)))
    assert line.startswith(f"retrieval: error: cannot serve metrics on 127.0.0.1:{listening}: "), line


def test_a_certificate_that_is_not_pem_is_one_line_naming_it(bundle, tls_files, free_port_factory) -> None:
    result = _serve(bundle, "--port", str(free_port_factory()),
                    "--tls-cert", str(tls_files["garbage"]), "--tls-key", str(tls_files["key"]))  # fmt: skip
    line = _one_line(result)
    assert line == f"retrieval: error: TLS certificate {tls_files['garbage']} is not a valid PEM certificate", line


def test_a_key_of_another_certificate_is_one_line_naming_both(bundle, tls_files, free_port_factory) -> None:
    result = _serve(bundle, "--port", str(free_port_factory()),
                    "--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["other_key"]))  # fmt: skip
    line = _one_line(result)
    assert line == (
        f"retrieval: error: TLS key {tls_files['other_key']} does not belong to the certificate {tls_files['cert']}"
    ), line


@pytest.mark.parametrize(("cert", "key", "message"), [
    ("key", "key", "TLS certificate {cert} is not a valid PEM certificate"),  # a key where the certificate goes
    ("cert", "cert", "TLS key {key} is not a valid PEM private key"),  # and the other way round
    ("cert", "garbage", "TLS key {key} is not a valid PEM private key"),
    ("cert", "encrypted", "TLS key {key} is encrypted"),
    ("cert", "missing", "cannot read the TLS key {key}"),
    ("missing", "key", "cannot read the TLS certificate {cert}"),
])  # fmt: skip
def test_each_bad_tls_file_is_named(tls_files, tmp_path, cert, key, message) -> None:
    paths = {**tls_files, "missing": tmp_path / "missing.pem"}
    with pytest.raises(ConfigError) as info:
        check_tls_files(paths[cert], paths[key])
    assert str(info.value).startswith(message.format(cert=paths[cert], key=paths[key]))


def test_good_tls_files_and_a_free_port_pass(tls_files, free_port_factory) -> None:
    check_tls_files(tls_files["cert"], tls_files["key"])
    check_port_free("127.0.0.1", free_port_factory())
    check_port_free("127.0.0.1", 0)


def test_an_address_of_another_machine_is_named(free_port_factory) -> None:
    with pytest.raises(ConfigError, match=r"cannot listen on 192\.0\.2\.1:\d+: .*address of this machine"):
        check_port_free("192.0.2.1", free_port_factory())  # TEST-NET-1: never a local address
