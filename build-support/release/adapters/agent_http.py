"""The agent's HTTP endpoints (stdlib http.server in a daemon thread).

    GET /          the deployment dashboard (agent/dashboard.py)
    GET /status    JSON: last synced commit, per-service sync and health, drift
    GET /metrics   Prometheus text (prometheus-client)
    GET /healthz   200 while the agent runs

Bound to 127.0.0.1 by default: it shows what runs where and needs no login, so
exposing it is a decision (a reverse proxy with authentication, an SSH tunnel).
Handlers only read the status the loop last published; they never act.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


def make_handler(agent, dashboard: Callable[[dict], str]):
    class Handler(BaseHTTPRequestHandler):
        server_version = "ecotrack-agent"

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
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
            if path == "/status":
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
    agent, host: str, port: int, dashboard: Callable[[dict], str]
) -> ThreadingHTTPServer:
    """Serves the agent's status, metrics and `dashboard(status)` (the page's HTML)
    from a daemon thread."""
    server = ThreadingHTTPServer((host, port), make_handler(agent, dashboard))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, name="agent-http", daemon=True
    )
    thread.start()
    return server
