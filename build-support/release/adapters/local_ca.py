"""A local certificate authority for the cache's TLS (openssl CLI, no Python deps):
one CA key and certificate in a directory, and server certificates it signs for a set
of IP addresses and DNS names. Clients trust the CA file (`ca.pem`)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from release.base.errors import ConfigError

CA_DAYS = 825
SERVER_DAYS = 90


@dataclass(frozen=True)
class ServerCert:
    cert: Path
    key: Path
    ca: Path


def _openssl(*args: str) -> None:
    r = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
        raise ConfigError(f"openssl {args[0]} failed: {last[0]}")


def ensure_ca(directory: Path, name: str = "ecotrack local CA") -> Path:
    """The CA certificate in `directory` (ca.pem, key ca.key), made on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "ca.pem", directory / "ca.key"
    if not (cert.exists() and key.exists()):
        _openssl(
            "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)
        )
        os.chmod(key, 0o600)
        _openssl(
            "req", "-x509", "-new", "-key", str(key), "-sha256",
            "-days", str(CA_DAYS), "-subj", f"/CN={name}", "-out", str(cert),
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    return cert


def issue(directory: Path, stem: str, names: list[str]) -> ServerCert:
    """A server certificate for `names` (IPs and DNS names), signed by the CA in
    `directory`: <stem>.pem and <stem>.key beside it."""
    ca = ensure_ca(directory)
    key, csr, cert = (directory / f"{stem}{ext}" for ext in (".key", ".csr", ".pem"))
    sans = []
    for n in names:
        try:
            sans.append(f"IP:{ipaddress.ip_address(n)}")
        except ValueError:
            sans.append(f"DNS:{n}")
    ext = directory / f"{stem}.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={','.join(sans)}\n"
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    os.chmod(key, 0o600)
    _openssl(
        "req", "-new", "-key", str(key), "-subj", f"/CN={names[0]}", "-out", str(csr)
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca),
        "-CAkey", str(directory / "ca.key"), "-CAcreateserial",
        "-days", str(SERVER_DAYS), "-sha256", "-extfile", str(ext), "-out", str(cert),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return ServerCert(cert=cert, key=key, ca=ca)
