"""A local certificate authority and the certificates it signs, made with the openssl
CLI and kept in a directory (keys mode 0600).

The local environment's HTTPS uses it: `ensure()` makes a CA and a proxy certificate
for 127.0.0.1 and localhost in the state dir, once. `pem` is what HAProxy reads
(certificate then key, one file); `ca` is what a client trusts:
`curl --cacert <ca> https://127.0.0.1:8443/proxy/health`. `issue()` signs a server
certificate for other names (the cache's TLS on a non-loopback address).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from release.adapters import openssl
from release.base.layout import state_dir

CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
CA_DAYS = 3650
SERVER_DAYS = 825  # what clients accept for a server certificate at most


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


@dataclass(frozen=True)
class ServerCert:
    cert: Path
    key: Path
    ca: Path


def directory() -> Path:
    return state_dir() / "tls"


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def ensure_ca(where: Path, run=openssl.run) -> bool:
    """The CA in `where` (ca.pem, ca.key), made if missing; True when made now."""
    tls = LocalTls(where)
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    if tls.ca.is_file() and tls.ca_key.is_file():
        return False
    run(
        ["req", "-x509", *CURVE, "-days", str(CA_DAYS), "-subj",
         "/CN=ecotrack local CA", "-keyout", "ca.key", "-out", "ca.pem",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        where,
    )  # fmt: skip
    _private(tls.ca_key)
    return True


def issue(where: Path, stem: str, names: list[str], run=openssl.run) -> ServerCert:
    """A server certificate for `names` (IP addresses and DNS names) signed by the
    CA in `where`: <stem>.crt and <stem>.key beside it."""
    ensure_ca(where, run)
    sans = []
    for name in names:
        try:
            sans.append(f"IP:{ipaddress.ip_address(name)}")
        except ValueError:
            sans.append(f"DNS:{name}")
    ext = where / f"{stem}.ext"
    ext.write_text(
        f"subjectAltName={','.join(sans)}\n"
        "extendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature\n"
        "basicConstraints=critical,CA:FALSE\n"
    )
    run(["req", *CURVE, "-subj", f"/CN={names[0]}", "-keyout", f"{stem}.key",
         "-out", f"{stem}.csr"], where)  # fmt: skip
    _private(where / f"{stem}.key")
    run(["x509", "-req", "-in", f"{stem}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", str(SERVER_DAYS), "-extfile", ext.name,
         "-out", f"{stem}.crt"], where)  # fmt: skip
    for leftover in (f"{stem}.csr", ext.name, "ca.srl"):
        (where / leftover).unlink(missing_ok=True)
    return ServerCert(where / f"{stem}.crt", where / f"{stem}.key", where / "ca.pem")


def ensure(where: Path | None = None, run=openssl.run) -> LocalTls:
    """Makes what is missing (a second call changes nothing); a new CA also gets a new
    proxy certificate, since the old one no longer chains to it."""
    tls = LocalTls(where or directory())
    made_ca = ensure_ca(tls.directory, run)
    if made_ca or not tls.pem.is_file():
        cert = issue(tls.directory, "proxy", ["localhost", "127.0.0.1"], run)
        tmp = tls.directory / "proxy_tls.pem.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(cert.cert.read_text() + cert.key.read_text())
        os.replace(tmp, tls.pem)
        cert.key.unlink()
    return tls
