"""The local CA and the proxy's certificate, made by the real openssl."""

from __future__ import annotations

import ssl

from release.devenv import tls


def test_made_once_keys_private_and_the_certificate_chains_to_the_ca(tmp_path):
    made = tls.ensure(tmp_path / "tls")
    assert made.ca.is_file() and made.pem.is_file()
    for key in (made.ca_key, made.pem):
        assert key.stat().st_mode & 0o777 == 0o600
    pem = made.pem.read_text()
    assert "BEGIN CERTIFICATE" in pem and "PRIVATE KEY" in pem  # as HAProxy wants
    ctx = ssl.create_default_context(cafile=str(made.ca))
    ctx.load_verify_locations(cafile=str(made.ca))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(made.pem))  # a usable pair
    before = {p.name: p.read_bytes() for p in made.directory.iterdir()}
    again = tls.ensure(tmp_path / "tls")
    assert {p.name: p.read_bytes() for p in again.directory.iterdir()} == before


def test_a_new_ca_gets_a_new_certificate(tmp_path):
    made = tls.ensure(tmp_path / "tls")
    old = made.pem.read_bytes()
    made.ca_key.unlink()
    tls.ensure(tmp_path / "tls")
    assert made.pem.read_bytes() != old
