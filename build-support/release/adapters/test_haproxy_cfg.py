"""gitops/proxy/haproxy.cfg run by the real HAProxy on loopback ports (the Docker
resolver is unreachable here, so backends have no servers and answer 503): TLS,
HTTP → HTTPS with HSTS, ciphers, the login rate limit, size limits and internals
served only on the internal listener."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from release.adapters.daemons import free_port
from release.devenv import tls as local_tls

ROOT = Path(__file__).resolve().parents[3]
CFG = ROOT / "gitops/proxy/haproxy.cfg"
RATE = 5

pytestmark = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="needs HAProxy (Debian's haproxy)"
)


class Proxy:
    def __init__(self, tmp: Path, https_only: bool):
        self.tls = local_tls.ensure(tmp / "tls")
        self.http, self.https, self.internal = free_port(), free_port(), free_port()
        text = CFG.read_text()
        for old, new in [
            ("bind :8080", f"bind 127.0.0.1:{self.http}"),
            ("bind :8443", f"bind 127.0.0.1:{self.https}"),
            ("bind :8081", f"bind 127.0.0.1:{self.internal}"),
            ("dst_port 8081", f"dst_port {self.internal}"),
            ("/run/secrets/proxy_tls.pem", str(self.tls.pem)),
            ("/run/haproxy/admin.sock", str(tmp / "admin.sock")),
            ("    user haproxy\n", ""),
            ("    group haproxy\n", ""),
        ]:
            assert old in text, old
            text = text.replace(old, new)
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(text)
        env = {**os.environ, "PROXY_TLS": "1", "PROXY_LOGIN_RATE": str(RATE)}
        if https_only:
            env["PROXY_HTTPS_ONLY"] = "1"
        self.proc = subprocess.Popen(
            ["haproxy", "-db", "-f", str(cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.internal), 0.2).close()
                return
            except OSError:
                assert self.proc.poll() is None, self.proc.stderr.read().decode()
                time.sleep(0.05)
        raise AssertionError("HAProxy did not listen")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def proxy(tmp_path):
    p = Proxy(tmp_path, https_only=True)
    yield p
    p.stop()


@pytest.fixture
def local_proxy(tmp_path):
    p = Proxy(tmp_path, https_only=False)
    yield p
    p.stop()


def handshake(port: int, ca: Path, *, ciphers: str = "", tls12: bool = False) -> str:
    """Why a TLS handshake with 127.0.0.1:`port` fails against `ca` ("" if not)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    try:
        with socket.create_connection(("127.0.0.1", port), 3) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return ""
    except (ssl.SSLError, OSError) as exc:
        return str(exc)


def test_https_verifies_with_the_local_ca_and_not_with_another(proxy, tmp_path):
    assert handshake(proxy.https, proxy.tls.ca) == ""
    other = local_tls.ensure(tmp_path / "other-ca")
    assert "CERTIFICATE_VERIFY_FAILED" in handshake(proxy.https, other.ca)
    r = httpx.get(
        f"https://127.0.0.1:{proxy.https}/proxy/health",
        verify=ssl.create_default_context(cafile=str(proxy.tls.ca)),
    )
    assert r.status_code == 200


def test_only_aead_suites_with_ecdhe_over_tls12(proxy):
    ca = proxy.tls.ca
    assert (
        handshake(proxy.https, ca, tls12=True, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
        == ""
    )
    for weak in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"):
        assert handshake(proxy.https, ca, tls12=True, ciphers=weak), weak


def test_http_redirects_to_https_and_https_sets_hsts(proxy):
    r = httpx.get(f"http://127.0.0.1:{proxy.http}/auth/login?x=1")
    assert r.status_code == 308
    assert (
        r.headers["location"].startswith("https://")
        and "/auth/login?x=1" in r.headers["location"]
    )
    r = httpx.get(
        f"https://127.0.0.1:{proxy.https}/proxy/health",
        verify=ssl.create_default_context(cafile=str(proxy.tls.ca)),
    )
    assert "max-age=" in r.headers["strict-transport-security"]


def test_local_keeps_plain_http_without_hsts(local_proxy):
    r = httpx.get(f"http://127.0.0.1:{local_proxy.http}/proxy/health")
    assert r.status_code == 200 and "strict-transport-security" not in r.headers


@pytest.mark.parametrize(
    "path",
    ["/stats", "/auth/metrics", "/auth/version", "/users/health/ready",
     "/auth/%6detrics", "/waste//metrics/"],
)  # fmt: skip
def test_internals_are_not_public(local_proxy, path):
    r = httpx.get(f"http://127.0.0.1:{local_proxy.http}{path}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    inside = httpx.get(f"http://127.0.0.1:{local_proxy.internal}{path}")
    assert inside.status_code != 404 or path == "/waste//metrics/"


def test_stats_on_the_internal_listener(local_proxy):
    r = httpx.get(f"http://127.0.0.1:{local_proxy.internal}/stats")
    assert r.status_code == 200 and "Statistics Report" in r.text


def _login(port: int, source: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport) as c:
        return c.post(f"http://127.0.0.1:{port}/auth/login", json={"u": "x"})


def test_login_rate_limit_is_per_client_address(local_proxy):
    answers = [_login(local_proxy.http, "127.0.0.1") for _ in range(RATE + 3)]
    codes = [r.status_code for r in answers]
    assert 429 not in codes[:RATE] and codes[RATE:] == [429] * 3, codes
    assert answers[-1].headers["retry-after"] == "10"
    assert _login(local_proxy.http, "127.0.0.2").status_code != 429  # another client
    register = httpx.post(f"http://127.0.0.1:{local_proxy.http}/auth/register", json={})
    assert register.status_code == 429
    # the other paths of auth are not limited
    assert (
        httpx.get(f"http://127.0.0.1:{local_proxy.http}/auth/verify").status_code != 429
    )


def test_request_size_limits(local_proxy):
    url = f"http://127.0.0.1:{local_proxy.http}/waste/jobs"
    big = httpx.post(url, content=b"x" * (1024 * 1024 + 1))
    assert big.status_code == 413 and "1 MiB" in big.json()["error"]["message"]
    assert httpx.post(url, content=b"x" * 1024).status_code == 503  # passed on
    chunked = httpx.post(url, content=iter([b"x" * 10]))
    assert chunked.status_code == 411
    many = {f"x-h{i}": "v" for i in range(80)}
    assert httpx.get(url, headers=many).status_code == 400
    assert httpx.get(url, headers={"x-big": "v" * 20000}).status_code in (400, 431)
