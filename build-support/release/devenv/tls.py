"""The local environment's HTTPS: a local CA and a proxy certificate for 127.0.0.1 and
localhost, made once and kept in the state dir (keys mode 0600).

`pem` is what HAProxy reads (certificate then key, one file); `ca` is what a client
trusts: `curl --cacert <ca> https://127.0.0.1:8443/proxy/health`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from release.adapters import openssl
from release.base.layout import state_dir

CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
SERVER_EXTENSIONS = (
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    "extendedKeyUsage=serverAuth\n"
    "keyUsage=critical,digitalSignature\n"
    "basicConstraints=critical,CA:FALSE\n"
)


@dataclass(frozen=True)
class LocalTls:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def pem(self) -> Path:
        return self.directory / "proxy_tls.pem"


def directory() -> Path:
    return state_dir() / "tls"


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def ensure(where: Path | None = None, run=openssl.run) -> LocalTls:
    """Makes what is missing (a second call changes nothing); a new CA also gets a new
    proxy certificate, since the old one no longer chains to it."""
    tls = LocalTls(where or directory())
    tls.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    made_ca = False
    if not (tls.ca.is_file() and tls.ca_key.is_file()):
        run(
            ["req", "-x509", *CURVE, "-days", "3650", "-subj",
             "/CN=ecotrack local CA", "-keyout", "ca.key", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
            tls.directory,
        )  # fmt: skip
        _private(tls.ca_key)
        made_ca = True
    if made_ca or not tls.pem.is_file():
        d = tls.directory
        (d / "proxy.ext").write_text(SERVER_EXTENSIONS)
        run(["req", *CURVE, "-subj", "/CN=localhost", "-keyout", "proxy.key",
             "-out", "proxy.csr"], d)  # fmt: skip
        _private(d / "proxy.key")
        run(["x509", "-req", "-in", "proxy.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "825", "-extfile", "proxy.ext",
             "-out", "proxy.crt"], d)  # fmt: skip
        tmp = d / "proxy_tls.pem.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write((d / "proxy.crt").read_text() + (d / "proxy.key").read_text())
        os.replace(tmp, tls.pem)
        for leftover in ("proxy.csr", "proxy.ext", "proxy.key", "ca.srl"):
            (d / leftover).unlink(missing_ok=True)
    return tls
