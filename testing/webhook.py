"""An incoming-webhook stand-in (Slack-compatible) that records what it is sent."""

from __future__ import annotations

import http.server
import json
import threading


class WebhookReceiver:
    """An incoming-webhook stand-in on 127.0.0.1: records each JSON POST."""

    def __init__(self, status: int = 200):
        self.payloads: list[dict] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.payloads.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T/B/x"

    def texts(self) -> list[str]:
        return [p["text"] for p in self.payloads]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
