"""The agent's HTTP endpoints on a real server: no URL credentials in any body, and a
bearer token required off loopback (bound to this machine's first non-loopback
address)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry

from release.adapters import agent_http
from release.agent import dashboard
from release.agent.events import EventLog
from release.base.errors import UsageError

SECRET_URL = "https://deploy-bot:ghp_s3cr3tT0ken@git.example.com/org/gitops.git"
SHOWN_URL = "https://***@git.example.com/org/gitops.git"
TOKEN = "t" * 40


def external_address() -> str:
    """This machine's first non-loopback IPv4 address (eth0's)."""
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout
    for addr in out.split():
        if "." in addr and not addr.startswith("127."):
            return addr
    pytest.skip("this machine has no non-loopback IPv4 address")


def fake_agent(status: dict):
    return SimpleNamespace(
        status=status, metrics=SimpleNamespace(registry=CollectorRegistry())
    )


def raw_status() -> dict:
    """A status as a careless builder would make it: the URL with its credentials."""
    return {
        "environment": "staging",
        "project": "ecotrack-staging",
        "repo": SECRET_URL,
        "branch": "main",
        "services": [],
        "events": [
            {"event": "tick_failed", "message": f"cannot fetch from {SECRET_URL}"}
        ],
        "agent": {"interval": 30, "self_heal": False, "last_tick_at": ""},
    }


@pytest.fixture
def server_at():
    servers = []

    def start(host: str, token: str | None = None, status: dict | None = None):
        s = agent_http.serve(
            fake_agent(status or raw_status()), host, 0, dashboard.render, token
        )
        servers.append(s)
        return f"http://{host}:{s.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_status_json_and_dashboard_never_show_url_credentials(server_at):
    base = server_at("127.0.0.1")
    code, body = get(base + "/status")
    assert code == 200
    assert "ghp_s3cr3tT0ken" not in body and "deploy-bot" not in body
    doc = json.loads(body)
    assert doc["repo"] == SHOWN_URL
    assert doc["events"][0]["message"] == f"cannot fetch from {SHOWN_URL}"
    code, page = get(base + "/")
    assert code == 200 and "<html" in page
    assert "ghp_s3cr3tT0ken" not in page and SHOWN_URL in page


def test_log_lines_and_kept_events_are_redacted():
    out = io.StringIO()
    log = EventLog("staging", "ecotrack-staging", stream=out)
    log(
        "tick_failed",
        message=f"GitError: cannot fetch main from {SECRET_URL}",
        repo=SECRET_URL,
    )
    line = out.getvalue()
    assert "ghp_s3cr3tT0ken" not in line and "deploy-bot" not in line
    record = json.loads(line)
    assert record["repo"] == SHOWN_URL
    assert "ghp_s3cr3tT0ken" not in json.dumps(list(log.recent))


def test_loopback_needs_no_token(server_at):
    base = server_at("127.0.0.1")
    for path in ("/status", "/", "/metrics"):
        assert get(base + path)[0] == 200


def test_off_loopback_every_page_but_healthz_needs_the_token(server_at):
    base = server_at(external_address(), token=TOKEN)
    for path in ("/status", "/", "/metrics"):
        code, body = get(base + path)
        assert code == 401, path
        assert "ecotrack-staging" not in body
        assert get(base + path, token="wrong" + TOKEN)[0] == 401
        assert get(base + path, token=TOKEN)[0] == 200
    assert get(base + "/healthz")[0] == 200


def test_off_loopback_without_a_token_refuses_to_start():
    host = external_address()
    with pytest.raises(UsageError, match="off loopback"):
        agent_http.serve(fake_agent(raw_status()), host, 0, dashboard.render, None)
    with socket.socket() as s:  # nothing was left listening
        s.bind((host, 0))


def test_is_loopback():
    assert agent_http.is_loopback("127.0.0.1") and agent_http.is_loopback("::1")
    assert agent_http.is_loopback("localhost")
    for host in ("0.0.0.0", "", "::", "192.0.2.2", "agent.example"):
        assert not agent_http.is_loopback(host)
