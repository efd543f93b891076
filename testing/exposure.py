"""What this machine exposes: every listening TCP port, who owns it, and what it answers
to a client without credentials.

`python -m testing.exposure [--from ADDR]` prints one line per port; tests use `scan()`
to assert that nothing but the public entry point answers on a non-loopback address.
A port is probed on the address it listens on (a wildcard bind is probed on ADDR, this
machine's first non-loopback address by default), first over TLS, then as plain HTTP,
so an answer is what an outside client would get.
"""

from __future__ import annotations

import argparse
import re
import socket
import ssl
import subprocess
from dataclasses import dataclass

WILDCARDS = {"0.0.0.0", "*", "::", "[::]"}


@dataclass(frozen=True)
class Listener:
    address: str  # as bound: 127.0.0.1, 0.0.0.0, ::1 ...
    port: int
    process: str  # the owning command (docker-proxy, haproxy, python ...), if known

    @property
    def public(self) -> bool:
        """Bound where another machine can reach it (not loopback)."""
        a = self.address.strip("[]")
        return not (a.startswith("127.") or a == "::1" or a.startswith("::ffff:127."))


@dataclass(frozen=True)
class Answer:
    listener: Listener
    probed_at: str
    tls: bool
    status: str  # "HTTP/1.1 200 OK", "no HTTP answer", "refused" ...
    detail: str = ""  # the first bytes of the body, or the TLS error

    def line(self) -> str:
        scheme = "https" if self.tls else "http "
        detail = f"  {self.detail}" if self.detail else ""
        return (
            f"{self.listener.address:>15}:{self.listener.port:<5} "
            f"{self.listener.process[:18]:<18} {scheme} {self.status}{detail}"
        )


def listeners() -> list[Listener]:
    """Every listening TCP socket on this machine (`ss -ltnpH`)."""
    out = subprocess.run(
        ["ss", "-ltnpH"], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for row in out.splitlines():
        cols = row.split()
        if len(cols) < 4:
            continue
        address, _, port = cols[3].rpartition(":")
        users = re.search(r'users:\(\("([^"]+)"', row)
        found.append(Listener(address, int(port), users.group(1) if users else "?"))
    return sorted(set(found), key=lambda x: (x.port, x.address))


def outside_address() -> str:
    """This machine's first non-loopback IPv4 address (how another host reaches it)."""
    for addr in subprocess.run(
        ["hostname", "-I"], capture_output=True, text=True
    ).stdout.split():
        if ":" not in addr and not addr.startswith("127."):
            return addr
    return "127.0.0.1"


def probe(listener: Listener, outside: str, path: str = "/", timeout: float = 3.0):
    """What `listener` answers to GET `path` without credentials."""
    host = listener.address.strip("[]")
    if host in WILDCARDS or host.strip("[]") in WILDCARDS:
        host = outside
    tls = _get(host, listener.port, path, timeout, tls=True)
    if tls is not None and tls.startswith("HTTP/"):
        return _answer(listener, host, True, tls)
    plain = _get(host, listener.port, path, timeout, tls=False)
    if plain:
        return _answer(listener, host, False, plain)
    h2 = _h2_handshake(host, listener.port, timeout)
    if h2:  # gRPC: TLS with HTTP/2 only; a call without a token is another matter
        return Answer(listener, host, True, "TLS, HTTP/2 only (gRPC)", h2)
    return Answer(listener, host, False, "no answer" if plain is None else "silent")


def _answer(listener: Listener, host: str, tls: bool, raw: str) -> Answer:
    if not raw.startswith("HTTP/"):
        shown = raw[:40].encode("unicode_escape").decode()
        return Answer(listener, host, tls, "no HTTP answer", shown)
    head, _, body = raw.partition("\r\n\r\n")
    status = head.splitlines()[0]
    location = re.search(r"(?im)^location: *(\S+)", head)
    detail = f"-> {location.group(1)}" if location else " ".join(body.split())[:60]
    return Answer(listener, host, tls, status, detail)


def _get(host: str, port: int, path: str, timeout: float, tls: bool) -> str | None:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE  # what is served, not whether we trust it
            try:
                sock = ctx.wrap_socket(sock, server_hostname=host)
            except (ssl.SSLError, OSError):
                return None
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode())
        chunks = []
        try:
            while sum(map(len, chunks)) < 4096:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
        except (socket.timeout, OSError):
            pass
        return b"".join(chunks).decode("latin-1")
    finally:
        sock.close()


def _h2_handshake(host: str, port: int, timeout: float) -> str:
    """The server certificate's subject when `port` completes a TLS handshake that
    offers only HTTP/2 (what a gRPC server wants), else ""."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as sock:
                der = sock.getpeercert(binary_form=True) or b""
                return f"{sock.version()}, certificate {len(der)} bytes"
    except (ssl.SSLError, OSError):
        return ""


def scan(outside: str | None = None, path: str = "/") -> list[Answer]:
    outside = outside or outside_address()
    return [probe(x, outside, path) for x in listeners()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="outside", help="address for wildcard binds")
    parser.add_argument("--path", default="/", help="the path each port is asked for")
    args = parser.parse_args()
    for answer in scan(args.outside, args.path):
        print(answer.line())


if __name__ == "__main__":
    main()
