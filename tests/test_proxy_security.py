"""The proxy's public entry point on a real stack (brought up as `./inv up` does):
HTTPS with the local CA, modern ciphers only, the login rate limit per client
address, the body size limit, internals only on the loopback-bound internal
listener; and the staging/prod behaviour (HTTPS only: redirect, HSTS, no start
without a certificate) on the same proxy image."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import uuid
import warnings

import httpx
import pytest

from release.devenv import tls as local_tls
from testing import commands

SERVICES = ["auth", "users", "waste", "recycling", "locations"]
LOGIN_RATE = 20  # the default PROXY_LOGIN_RATE: logins per 10 s per address


def handshake(port: int, ca, *, ciphers: str = "", tls12: bool = False) -> str:
    """Why a TLS handshake with 127.0.0.1:`port` fails against `ca` ("" if not)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if ciphers:
        ctx.set_ciphers(ciphers)
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return ""
    except (ssl.SSLError, OSError) as exc:
        return str(exc)


def proxy_container(project: str) -> str:
    return commands.docker(
        "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
        "--filter", "label=com.docker.compose.service=proxy",
    ).split()[0]  # fmt: skip


@pytest.fixture(scope="module")
def stack(e2e_stack):
    opts, _ = e2e_stack
    return opts


@pytest.fixture(scope="module")
def ca():
    return local_tls.directory() / "ca.pem"


def test_https_with_the_local_ca_and_not_with_another(stack, ca, tmp_path):
    assert handshake(stack.tls_port, ca) == ""
    ctx = ssl.create_default_context(cafile=str(ca))
    r = httpx.get(f"{stack.https_url}/auth/health/live", verify=ctx, timeout=10)
    assert r.status_code == 200
    other = local_tls.ensure(tmp_path / "another-ca")
    assert "CERTIFICATE_VERIFY_FAILED" in handshake(stack.tls_port, other.ca)


def test_weak_protocols_and_ciphers_are_refused(stack, ca):
    assert handshake(stack.tls_port, ca, tls12=True) == ""  # TLS 1.2 with ECDHE+AEAD
    assert handshake(stack.tls_port, ca, tls12=True, ciphers="ECDHE-ECDSA-AES128-SHA")
    assert handshake(stack.tls_port, ca, tls12=True, ciphers="AES128-GCM-SHA256")
    with warnings.catch_warnings():  # TLS 1.1 is deprecated: the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        old = ssl.create_default_context(cafile=str(ca))
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", stack.tls_port), 5) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize("service", SERVICES)
def test_internals_only_on_the_loopback_listener(stack, service):
    for path in (f"/{service}/metrics", f"/{service}/version"):
        public = httpx.get(f"{stack.base_url}{path}", timeout=10)
        assert public.status_code == 404, path
        assert httpx.get(f"{stack.internal_url}{path}", timeout=10).status_code == 200
    ready = f"/{service}/health/ready"
    assert httpx.get(f"{stack.base_url}{ready}", timeout=10).status_code == 404
    assert httpx.get(f"{stack.internal_url}{ready}", timeout=10).status_code == 200


def test_stats_only_on_the_loopback_listener(stack):
    assert httpx.get(f"{stack.base_url}/stats", timeout=10).status_code == 404
    r = httpx.get(f"{stack.internal_url}/stats", timeout=10)
    assert r.status_code == 200 and "Statistics Report" in r.text
    # published on the host's loopback only
    port = commands.docker("port", proxy_container(stack.project), "8081/tcp")
    assert port.splitlines() == [f"127.0.0.1:{stack.internal_port}"]


def test_oversized_body_is_refused_at_the_proxy(stack):
    big = httpx.post(
        f"{stack.base_url}/waste/jobs", content=b"x" * (1024 * 1024 + 1), timeout=10
    )
    # the proxy's answer (the services' own limit is lower, and says so otherwise)
    assert big.status_code == 413 and "1 MiB" in big.json()["error"]["message"]
    chunked = httpx.post(
        f"{stack.base_url}/waste/jobs", content=iter([b'{"description": "x"}'])
    )
    assert chunked.status_code == 411  # a body the proxy cannot measure up front
    fine = httpx.post(
        f"{stack.base_url}/waste/jobs", json={"description": "glass"}, timeout=10
    )
    assert fine.status_code == 202


INSIDE = """
import json, sys, urllib.request, urllib.error
req = urllib.request.Request("http://127.0.0.1:8080/auth/login", method="POST",
    data=json.dumps({"username": sys.argv[1], "password": sys.argv[2]}).encode(),
    headers={"Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""


def test_login_rate_limit_per_address_with_retry_after(stack):
    """The host's requests reach the proxy from the Docker bridge's address; a client
    inside the proxy's container comes from 127.0.0.1: another address."""
    other = {"username": f"other_{uuid.uuid4().hex[:8]}", "password": "pw-other-123"}
    url = f"{stack.base_url}/auth/register"
    assert httpx.post(url, json=other, timeout=10).status_code == 201
    time.sleep(10)  # a fresh window for this address
    codes = []
    with httpx.Client(timeout=10) as c:
        for _ in range(LOGIN_RATE + 5):
            r = c.post(
                f"{stack.base_url}/auth/login",
                json={"username": "nobody", "password": "wrong-password"},
            )
            codes.append(r.status_code)
            if r.status_code == 429:
                last = r
    assert 429 not in codes[: LOGIN_RATE - 1], codes
    assert codes.count(429) >= 5, codes
    assert int(last.headers["retry-after"]) > 0
    assert last.json()["error"]["code"] == "rate_limited"
    # Another address is still served (and logs in) meanwhile.
    inside = subprocess.run(
        ["docker", "exec", proxy_container(stack.project), "python3", "-c", INSIDE,
         other["username"], other["password"]],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert inside == "200"
    # and the limited address is not limited elsewhere
    assert httpx.get(f"{stack.base_url}/auth/health/live").status_code == 200
    time.sleep(11)  # the window passes: other tests log in from this address too


@pytest.fixture(scope="module")
def https_only(stack):
    """The stack's proxy image run as staging and prod run it (PROXY_HTTPS_ONLY)."""
    image = json.loads(commands.docker("inspect", proxy_container(stack.project)))[0][
        "Config"
    ]["Image"]
    name = f"{stack.project}-https-only"
    pem = local_tls.ensure().pem
    commands.docker(
        "run", "-d", "--name", name, "-e", "PROXY_HTTPS_ONLY=1",
        "-v", f"{pem}:/run/secrets/proxy_tls.pem:ro",
        "-p", "127.0.0.1::8080", "-p", "127.0.0.1::8443", image,
    )  # fmt: skip
    try:
        ports = {
            p: int(commands.docker("port", name, f"{p}/tcp").rsplit(":", 1)[-1])
            for p in (8080, 8443)
        }
        deadline = time.monotonic() + 30
        while handshake(ports[8443], local_tls.directory() / "ca.pem"):
            assert time.monotonic() < deadline, commands.docker("logs", name)
            time.sleep(0.5)
        yield image, ports
    finally:
        commands.docker("rm", "-f", name, check=False)


def test_https_only_redirects_http_and_sets_hsts(https_only, ca):
    _, ports = https_only
    r = httpx.get(f"http://127.0.0.1:{ports[8080]}/auth/login?next=1", timeout=10)
    assert r.status_code == 308
    assert r.headers["location"].startswith("https://127.0.0.1")
    assert r.headers["location"].endswith("/auth/login?next=1")
    ctx = ssl.create_default_context(cafile=str(ca))
    r = httpx.get(f"https://127.0.0.1:{ports[8443]}/proxy/health", verify=ctx)
    assert r.status_code == 200
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_https_only_refuses_to_start_without_a_certificate(https_only):
    image, _ = https_only
    r = subprocess.run(
        ["docker", "run", "--rm", "-e", "PROXY_HTTPS_ONLY=1", image],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: PROXY_HTTPS_ONLY is set but no cert")
