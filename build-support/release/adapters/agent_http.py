"""The agent's HTTP endpoints (stdlib http.server in a daemon thread).

    GET /          the deployment dashboard (agent/dashboard.py)
    GET /status    JSON: last synced commit, per-service sync and health, drift
    GET /metrics   Prometheus text (prometheus-client)
    GET /healthz   200 while the agent runs

Bound to 127.0.0.1 by default, where it needs no login. Bound off loopback it needs
a token: every path but /healthz (the dashboard, /status and /metrics, which tell what
runs where) answers 401 without `Authorization: Bearer <token>`, and `serve` refuses to
start there without one. Every body is redacted (base/redact.py): no URL credentials.
Handlers only read the status the loop last published; they never act.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from release.base.errors import UsageError
from release.base.redact import redact

OPEN_PATHS = ("/healthz",)  # a liveness probe tells nothing


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine (names other than
    localhost count as not: they may resolve anywhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_handler(agent, dashboard: Callable[[dict], str], token: str | None = None):
    expected = f"Bearer {token}".encode() if token else None

    class Handler(BaseHTTPRequestHandler):
        server_version = "ecotrack-agent"

        def _authorized(self, path: str) -> bool:
            if expected is None or path in OPEN_PATHS:
                return True
            given = self.headers.get("Authorization", "").strip().encode()
            return hmac.compare_digest(given, expected)

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            body = redact(body.decode("utf-8", "replace")).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            if status == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="ecotrack-agent"')
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            try:
                self._route(self.path.split("?", 1)[0])
            except Exception as exc:  # a broken page must not take the agent down
                body = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
                self._send(500, body, "application/json")

        def _route(self, path: str) -> None:
            if not self._authorized(path):
                self._send(
                    401, b'{"error":"a bearer token is required"}', "application/json"
                )
            elif path == "/status":
                body = json.dumps(agent.status, indent=2, default=str).encode()
                self._send(200, body, "application/json")
            elif path == "/metrics":
                self._send(
                    200, generate_latest(agent.metrics.registry), CONTENT_TYPE_LATEST
                )
            elif path in ("/", "/index.html"):
                page = dashboard(agent.status).encode()
                self._send(200, page, "text/html; charset=utf-8")
            elif path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            else:
                self._send(404, b'{"error":"not found"}', "application/json")

        do_HEAD = do_GET

        def log_message(self, *args) -> None:  # requests are not agent events
            pass

    return Handler


def serve(
    agent,
    host: str,
    port: int,
    dashboard: Callable[[dict], str],
    token: str | None = None,
) -> ThreadingHTTPServer:
    """Serves the agent's status, metrics and `dashboard(status)` (the page's HTML)
    from a daemon thread; off loopback only with a token, which every path but
    /healthz then requires."""
    if not is_loopback(host) and not token:
        raise UsageError(
            f"--listen {host}:{port} is off loopback: the agent needs a token there "
            "(--token-file)"
        )
    server = ThreadingHTTPServer((host, port), make_handler(agent, dashboard, token))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, name="agent-http", daemon=True
    )
    thread.start()
    return server
